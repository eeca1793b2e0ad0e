/**
 * `agentctl top`: a live view of processes with syscall rates, state and
 * pending approvals, refreshed every second (--once prints one frame).
 */
import { printable } from '../../kernel/terminal-text.ts';
import { formatPs, remote, type ConnectOptions } from './remote.ts';
import { ArgumentError, wholeNumber } from './whole-number.ts';

export const top = (o: ConnectOptions & { once?: boolean; interval?: string }) =>
  remote(o, async (c) => {
    // Not NaN (found by an attacker pass: `--interval abc` polled agentd every millisecond).
    const interval = o.interval === undefined ? 1000 : (wholeNumber(o.interval) ?? 0);
    if (interval < 200) throw new ArgumentError(`--interval must be a whole number of milliseconds, at least 200, not '${o.interval}'`);
    let previous = new Map<number, { syscalls: number; at: number }>();
    const frame = async () => {
      const [list, pending, hosts] = await Promise.all([c.ps(), c.approvals(), c.hosts()]);
      const now = Date.now();
      const rates = new Map<number, number>();
      for (const p of list) {
        const before = previous.get(p.pid);
        rates.set(p.pid, before ? ((p.syscalls - before.syscalls) * 1000) / Math.max(1, now - before.at) : 0);
      }
      previous = new Map(list.map((p) => [p.pid, { syscalls: p.syscalls, at: now }]));
      if (o.json) return process.stdout.write(`${JSON.stringify({ time: now, processes: list.map((p) => ({ ...p, syscallsPerSecond: rates.get(p.pid) })), pendingApprovals: pending, hosts })}\n`);
      const lines = formatPs(list).map((line, i) => (i === 0 ? `${line}  SYS/S` : `${line}  ${Math.round(rates.get(list[i - 1]!.pid) ?? 0)}`));
      const header = printable(`agentd ${c.url}  ${list.length} processes  ${pending.length} pending approvals  ${new Date(now).toISOString()}`);
      const load = hosts.length === 0 ? [] : [printable(`sandbox hosts: ${hosts.map((h) => `${h.id} ${h.state} ${h.agents} agents ${h.served} served`).join(', ')}`)];
      const body = [header, ...load, '', ...lines, '', ...pending.map((a) => printable(`approval ${a.id}: pid ${a.pid} ${a.syscall} ${a.path ?? a.tool ?? ''} (${a.rule})`))].join('\n');
      process.stdout.write(process.stdout.isTTY && !o.once ? `\x1b[2J\x1b[H${body}\n` : `${body}\n`);
    };
    await frame();
    if (o.once) return;
    // The next frame is asked for once this one is drawn: a slow agentd never has frames pile up.
    await new Promise<void>((resolve) => {
      let stopped = false;
      let timer = setTimeout(next, interval);
      function next() {
        frame().then(() => void (stopped || (timer = setTimeout(next, interval))), resolve);
      }
      process.once('SIGINT', () => {
        stopped = true;
        clearTimeout(timer);
        resolve();
      });
    });
  });
