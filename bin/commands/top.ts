/**
 * `agentctl top`: a live view of processes with syscall rates, state and
 * pending approvals, refreshed every second (--once prints one frame).
 */
import { formatPs, remote, type ConnectOptions } from './remote.ts';

export const top = (o: ConnectOptions & { once?: boolean; interval?: string }) =>
  remote(o, async (c) => {
    const interval = Math.max(200, Number(o.interval ?? 1000));
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
      const header = `agentd ${c.url}  ${list.length} processes  ${pending.length} pending approvals  ${new Date(now).toISOString()}`;
      const load = hosts.length === 0 ? [] : [`sandbox hosts: ${hosts.map((h) => `${h.id} ${h.state} ${h.agents} agents ${h.served} served`).join(', ')}`];
      const body = [header, ...load, '', ...lines, '', ...pending.map((a) => `approval ${a.id}: pid ${a.pid} ${a.syscall} ${a.path ?? a.tool ?? ''} (${a.rule})`)].join('\n');
      process.stdout.write(process.stdout.isTTY && !o.once ? `\x1b[2J\x1b[H${body}\n` : `${body}\n`);
    };
    await frame();
    if (o.once) return;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => void frame().catch(() => resolve()), interval);
      process.once('SIGINT', () => {
        clearInterval(timer);
        resolve();
      });
    });
  });
