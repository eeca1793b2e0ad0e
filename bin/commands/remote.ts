/**
 * agentctl commands that talk to agentd. Each prints one clear line and
 * exits non-zero when the daemon is down (3), the token is wrong or may not
 * do this (4: 401, or 403 for an agent credential), the pid or approval is
 * unknown (1), or an argument does not read — a pid, a signal, a selector, a
 * file that cannot be read (2, an ArgumentError, as every usage error).
 * --json prints machine-readable output.
 */
import { readInput } from './input-file.ts';
import { AUTONOMY_LEVELS, type Autonomy, isAutonomy } from '../../kernel/autonomy.ts';
import { styleText } from 'node:util';
import { parseSignal, type SignalName } from '../../signals/signal-table.ts';
import { AgentdClient, AgentdError } from '../../kernel/service/client.ts';
import type { ListedProcess } from '../../kernel/service/client.ts';
import type { ProcessOutput } from '../../kernel/service/output.ts';
import { exitReport, exitSummary } from '../../kernel/exit-summary.ts';
import { printable } from '../../kernel/terminal-text.ts';
import { formatRecord } from '../../kernel/recorder/query.ts';
import { ArgumentError, wholeNumber } from './whole-number.ts';

export interface ConnectOptions {
  url?: string;
  token?: string;
  stateDir?: string;
  json?: boolean;
}

type Color = Parameters<typeof styleText>[0];
const paint = (color: Color, text: string) => styleText(color, text, { stream: process.stdout });

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** remote runs `body` with a client and turns failures into one line and an exit status. */
export async function remote(options: ConnectOptions, body: (client: AgentdClient) => Promise<number | void>): Promise<number> {
  try {
    const client = AgentdClient.fromEnvironment({ url: options.url, token: options.token, stateDir: options.stateDir });
    return (await body(client)) ?? 0;
  } catch (err) {
    if (err instanceof AgentdError) {
      process.stderr.write(`agentctl: ${err.message}\n`);
      return err.kind === 'down' ? 3 : err.kind === 'unauthorized' || err.kind === 'forbidden' ? 4 : 1;
    }
    process.stderr.write(`agentctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof ArgumentError ? 2 : 1;
  }
}

const STATE_COLOR: Record<string, Color> = { running: 'green', blocked: 'cyan', stopped: 'yellow', exited: 'gray', lost: 'red' };

/** size prints a byte count with a binary unit. */
function size(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  const units = ['K', 'M', 'G', 'T'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/** Characters of the REASON column of `ps` (`ps --json` and `agentctl output` have all of it). */
const REASON_CHARS = 60;

/**
 * formatPs lays out `ps`: per process, and what its tree is accounted (TREE:
 * the root's pid; CPU: the tree's CPU time, isolates and kernel; VFS: the
 * agent's files, used/quota). A NODE column appears when agentd is a
 * cluster node (then `lost` is a state too), and a REASON column, last, when
 * a listed process has exited: why, in short (`exit(0)`, the uncaught
 * error's first line and top frame, `killed by SIGKILL (memory limit
 * exceeded)`).
 */
export function formatPs(list: readonly ListedProcess[]): string[] {
  const clustered = list.some((p) => p.node !== undefined);
  const ended = list.some((p) => p.exitReason !== undefined);
  // TRUST shows once some agent has lost trust (kernel/trust.ts).
  const trusting = list.some((p) => p.trust !== undefined && p.trust < 1000);
  // BREAKERS shows once some agent has an open circuit breaker (kernel/breakers.ts).
  const breaking = list.some((p) => p.breakers !== undefined && p.breakers.length > 0);
  const rows = [['PID', 'PPID', 'AGENT', 'STATE', 'SYSCALLS', 'FDS', 'PENDING', 'TREE', 'CPU', 'VFS', 'PROGRAM', ...(trusting ? ['TRUST'] : []), ...(breaking ? ['BREAKERS'] : []), ...(clustered ? ['NODE'] : []), ...(ended ? ['REASON'] : [])]];
  for (const p of list) {
    const t = p.tree;
    const vfs = t === undefined ? '-' : `${size(t.vfsBytes)}/${t.vfsBytesLimit === undefined ? '-' : size(t.vfsBytesLimit)}`;
    // Every cell is agentd's data (agent ids, program paths, node names come from agents and configuration): escaped (terminal-text.ts).
    const cells = [
      String(p.pid),
      String(p.ppid),
      p.agentId,
      p.state + (p.status !== undefined ? `(${p.status})` : ''),
      String(p.syscalls),
      String(p.openFds),
      p.pendingSignals.join(',') || '-',
      t === undefined ? '-' : String(t.root),
      t === undefined ? '-' : `${Math.round(t.cpuMs)}ms`,
      vfs,
      p.program,
      ...(trusting ? [p.trust === undefined ? '-' : String(p.trust)] : []),
      ...(breaking ? [p.breakers?.join(',') || '-'] : []),
      ...(clustered ? [p.node ?? '?'] : []),
      ...(ended ? [p.exitReason === undefined ? '-' : exitSummary(p.exitReason, p.status ?? 0, REASON_CHARS)] : []),
    ];
    rows.push(cells.map(printable));
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r, row) =>
    r
      .map((cell, i) => {
        const padded = cell.padEnd(widths[i]!);
        if (row === 0) return paint('bold', padded);
        return i === 3 ? paint(STATE_COLOR[cell.replace(/\(.*/, '')] ?? 'white', padded) : padded;
      })
      .join('  '),
  );
}

export const ps = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const list = await c.ps();
    if (o.json) out(JSON.stringify(list));
    else for (const line of formatPs(list)) out(line);
  });

/** signalOf reads a signal argument (a name or number, a leading `-` allowed); a usage error when it names none. */
function signalOf(text: string): SignalName {
  const sig = parseSignal(text.replace(/^-/, ''));
  if (sig === undefined) throw new ArgumentError(`unknown signal '${text}' (SIGSTOP, SIGCONT, SIGINT, SIGKILL, SIGTERM, SIGUSR1, SIGPOLICY, SIGTRUST or their numbers)`);
  return sig;
}

/** kill sends one signal to each pid; status 1 if any pid failed. Every pid is read first: one that is not a pid is a usage error (2) and nothing is sent. */
export const kill = (o: ConnectOptions, signal: string, pids: string[], tree = false) =>
  remote(o, async (c) => {
    const sig = signalOf(signal);
    if (pids.length === 0) throw new ArgumentError('kill needs at least one pid');
    const read = pids.map((text) => {
      const pid = wholeNumber(text);
      if (pid === undefined || pid < 1) throw new ArgumentError(`${text}: not a pid`);
      return { text, pid };
    });
    let status = 0;
    for (const { text, pid } of read) {
      try {
        const answer = await c.signal(pid, sig, tree);
        for (const { pid: each, outcome } of answer.tree ?? [{ pid, outcome: answer.outcome }]) out(o.json ? JSON.stringify({ pid: each, signal: sig, outcome }) : `${each}: ${sig} ${outcome}`);
      } catch (err) {
        if (!(err instanceof AgentdError) || err.kind === 'down' || err.kind === 'unauthorized' || err.kind === 'forbidden') throw err;
        process.stderr.write(`agentctl: ${text}: ${err.message}\n`);
        status = 1;
      }
    }
    return status;
  });

/** parseSelector turns `team=finance,tier=1` (each --selector; they add up) into labels. */
function parseSelector(selectors: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of selectors.flatMap((s) => s.split(','))) {
    const at = pair.indexOf('=');
    if (at < 1 || at === pair.length - 1) throw new ArgumentError(`--selector takes label=value pairs separated by commas, not '${pair}'`);
    labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}

/**
 * killMatching is the fleet kill switch: one signal to every live process
 * the selector (or --all) matches, on every node. One line per process;
 * status 1 if none matched (as pkill) or any could not be signalled.
 */
export const killMatching = (o: ConnectOptions, signal: string, selector: readonly string[] | undefined, all: boolean | undefined, pids: readonly string[], tree = false) =>
  remote(o, async (c) => {
    const sig = signalOf(signal);
    if (pids.length > 0) throw new ArgumentError('give pids, or --selector / --all, not both');
    if (tree) throw new ArgumentError('--tree takes pids, not --selector or --all (they match every process of a tree anyway)');
    if ((selector === undefined) === (all !== true)) throw new ArgumentError('give --selector label=value or --all (one of them)');
    const answer = await c.signalMatching(sig, all === true ? 'all' : parseSelector(selector!));
    if (o.json) out(JSON.stringify(answer));
    let failed = 0;
    for (const r of answer.results) {
      const where = r.node !== undefined ? ` on ${r.node}` : '';
      if ('outcome' in r) {
        if (!o.json) out(printable(`${r.pid} (${r.agentId}${where}): ${sig} ${r.outcome}`));
      } else {
        failed++;
        process.stderr.write(`agentctl: ${printable(`${r.pid} (${r.agentId}${where}): ${r.error}`)}\n`);
      }
    }
    if (answer.matched === 0) process.stderr.write(`agentctl: no live process matches ${printable(answer.selector)}\n`);
    return answer.matched === 0 || failed > 0 ? 1 : 0;
  });

/** autonomy prints an agent's autonomy level, setting it first when `level` is given. */
export const autonomy = (o: ConnectOptions, agent: string, level: string | undefined) =>
  remote(o, async (c) => {
    if (level !== undefined && !isAutonomy(level)) throw new ArgumentError(`autonomy must be one of ${AUTONOMY_LEVELS.join(', ')}, not '${level}'`);
    const answer = await c.autonomy(agent, level);
    out(o.json ? JSON.stringify(answer) : printable(`${answer.agent}: ${answer.level}`));
  });

export const spawn = (o: ConnectOptions, file: string, args: string[], manifestFile: string | undefined, agent: string | undefined) =>
  remote(o, async (c) => {
    const { source, filename, sourceMap } = await (await import('./spawn-program.ts')).programToSend(file);
    const { parse: parseYaml } = await import('yaml');
    const fromFile = manifestFile === undefined ? undefined : (parseYaml(readInput(manifestFile)) as { id?: string; labels?: Record<string, string>; capabilities?: string[]; autonomy?: Autonomy });
    const manifest = agent === undefined ? fromFile : { id: agent, ...fromFile };
    const result = await c.spawn(source, { filename, ...(sourceMap !== undefined ? { source_map: sourceMap } : {}), argv: args, ...(manifest ? { manifest } : {}) });
    out(o.json ? JSON.stringify(result) : printable(`${result.pid} (agent ${result.agentId})`));
  });

export const approvals = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const list = await c.approvals();
    if (o.json) return out(JSON.stringify(list));
    if (list.length === 0) return out('no pending approvals');
    for (const a of list) out(`${paint('yellow', printable(a.id))}  ${printable(`pid ${a.pid} ${a.agentId}  ${a.syscall} ${a.path ?? a.tool ?? ''}  rule ${a.rule}: ${a.reason}`)}`);
  });

export const answer = (o: ConnectOptions, id: string, approve: boolean, reason: string | undefined, approver: string | undefined) =>
  remote(o, async (c) => {
    const status = await c.answer(id, approve, { ...(reason ? { reason } : {}), ...(approver ? { approver } : {}) });
    out(o.json ? JSON.stringify(status) : printable(`${id}: ${status.status} by ${status.answer?.approver ?? '?'}`));
  });

/** pidOf reads a pid argument: plain decimal digits, at least 1 (`0x10` was pid 16). */
function pidOf(text: string): number {
  const pid = wholeNumber(text);
  if (pid === undefined || pid < 1) throw new ArgumentError(`not a pid: '${text}'`);
  return pid;
}

/**
 * logs prints the last --limit records (default 100), or with --after SEQ
 * the first --limit after it, or follows new ones (-f); a follower agentd
 * drops for falling behind exits 1 naming the seq to resume after.
 */
export const logs = (o: ConnectOptions & { follow?: boolean; agent?: string; decision?: string; syscall?: string; limit?: string; after?: string }) =>
  remote(o, async (c) => {
    const after = o.after === undefined ? undefined : (wholeNumber(o.after) ?? -1);
    if (after !== undefined && after < 0) throw new ArgumentError('--after must be a sequence number');
    const limit = o.limit === undefined ? 100 : (wholeNumber(o.limit) ?? 0);
    if (limit < 1) throw new ArgumentError(`--limit must be a count of at least 1, not '${o.limit}'`);
    const filter = { agent: o.agent, decision: o.decision, syscall: o.syscall, after };
    const print = (r: Parameters<typeof formatRecord>[0]) => out(o.json ? JSON.stringify(r) : formatRecord(r));
    if (!o.follow) {
      for (const r of await c.decisions({ ...filter, limit })) print(r);
      return;
    }
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    await c.follow(filter, print, abort.signal);
  });

export const auditVerifyRemote = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const r = await c.auditVerify();
    if (o.json) out(JSON.stringify(r));
    else out(printable(r.ok ? `ok: ${r.records} records verify${r.segments > 1 ? ` in ${r.segments} segments` : ''}; head ${r.head} (${r.file})` : `FAILED at seq ${r.problem!.seq}: ${r.problem!.message}`));
    return r.ok ? 0 : 1;
  });

export const policyGet = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const p = await c.policy();
    if (o.json) out(JSON.stringify(p));
    else process.stdout.write(`# version ${p.version} (${p.rules} rules)\n${p.source}${p.source.endsWith('\n') ? '' : '\n'}`);
  });

export const policySet = (o: ConnectOptions, file: string) =>
  remote(o, async (c) => {
    try {
      const r = await c.setPolicy(readInput(file), file);
      out(o.json ? JSON.stringify(r) : `policy replaced: ${r.previous} -> ${r.version}`);
    } catch (err) {
      if (err instanceof AgentdError && err.status === 400) {
        process.stderr.write(`agentctl: policy refused, the old one stays in force: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  });

/** columns lines up `rows` (the first is the header, bold), every cell escaped (terminal-text.ts): they are agentd's data. */
export function columns(table: readonly (readonly string[])[]): string[] {
  const rows = table.map((r) => r.map(printable));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r, row) => r.map((cell, i) => (row === 0 ? paint('bold', cell.padEnd(widths[i]!)) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** refusedPolicy turns a 400 (a policy that does not load) into one line and status 2; anything else goes on. */
function refusedPolicy(what: string, err: unknown): number {
  if (err instanceof AgentdError && err.status === 400) {
    process.stderr.write(`agentctl: ${what} refused: ${err.message}\n`);
    return 2;
  }
  throw err;
}

export const shadowSet = (o: ConnectOptions, file: string) =>
  remote(o, async (c) => {
    try {
      const r = await c.setShadow(readInput(file), file);
      out(o.json ? JSON.stringify(r) : `shadow policy set: ${r.version} (the policy in force stays ${r.enforced})`);
    } catch (err) {
      return refusedPolicy('shadow policy', err);
    }
  });

export const shadowGet = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const s = await c.shadow();
    if (o.json) return out(JSON.stringify(s));
    process.stdout.write(`# shadow ${s.version} since ${new Date(s.since).toISOString()}: ${s.decisions} decisions, ${s.disagreements} disagreements with ${s.enforced}\n${s.source}${s.source.endsWith('\n') ? '' : '\n'}`);
  });

export const shadowDiff = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const d = await c.shadowDiff();
    if (o.json) return out(JSON.stringify(d));
    out(`shadow ${d.version} vs ${d.enforced}: ${d.disagreements} of ${d.decisions} decisions differ`);
    if (d.groups.length > 0) {
      out('');
      for (const line of columns([['COUNT', 'DIRECTION', 'IN FORCE', 'SHADOW'], ...d.groups.map((g) => [String(g.count), g.direction, g.enforcedRule, g.shadowRule])])) out(line);
    }
    if (d.recent.length > 0) {
      out('\nmost recent:');
      for (const r of d.recent.slice(-10)) out(printable(`  ${new Date(r.at).toISOString()} ${r.agentId} ${r.syscall}${r.tool ? ` ${r.tool}` : ''}${r.path ? ` ${r.path}` : ''}: ${r.enforced.effect} (${r.enforced.rule}) -> ${r.shadow.effect} (${r.shadow.rule})`));
    }
  });

export const shadowPromote = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const r = await c.promoteShadow();
    out(o.json ? JSON.stringify(r) : `shadow promoted: policy replaced: ${r.previous} -> ${r.version}`);
  });

export const shadowClear = (o: ConnectOptions) =>
  remote(o, async (c) => {
    const r = await c.clearShadow();
    out(o.json ? JSON.stringify(r) : `shadow policy ${r.version} cleared after ${r.decisions} decisions, ${r.disagreements} disagreements`);
  });

export const vfsLs = (o: ConnectOptions, pid: string, path: string | undefined) =>
  remote(o, async (c) => {
    const r = await c.ls(pidOf(pid), path ?? '.');
    if (o.json) return out(JSON.stringify(r));
    for (const e of r.entries) out(e.type === 'dir' ? paint('blue', `${printable(e.name)}/`) : printable(e.name));
  });

export const vfsCat = (o: ConnectOptions, pid: string, path: string) =>
  remote(o, async (c) => {
    const r = await c.cat(pidOf(pid), path);
    if (o.json) out(JSON.stringify(r));
    else process.stdout.write(r.text);
  });

export const checkpoint = (o: ConnectOptions, pid: string) =>
  remote(o, async (c) => {
    const r = await c.checkpoint(pidOf(pid));
    out(o.json ? JSON.stringify(r) : printable(`checkpoint ${r.n}: ${r.files} files, ${r.bytes} bytes at ${r.path}`));
  });

/**
 * output prints what a process wrote (stdout to stdout, stderr to stderr)
 * and, once it has exited, ends stderr with how: `agentctl: pid 3
 * exited(132): killed by SIGKILL (memory limit exceeded)`, or for an
 * uncaught error its whole agent-side stack. --json: `{ stdout, stderr }`
 * plus `status` and `exitReason` once it has exited.
 */
export const output = (o: ConnectOptions, pid: string) =>
  remote(o, async (c) => {
    // The client's declared answer predates status and exitReason; the route sends them (kernel/service/output.ts).
    const r: ProcessOutput = await c.output(pidOf(pid));
    if (o.json) return out(JSON.stringify(r));
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    if (r.exitReason === undefined) return;
    const report = exitReport(pidOf(pid), r.exitReason, r.status ?? 0);
    const apart = r.stderr === '' || r.stderr.endsWith('\n') ? '' : '\n';
    process.stderr.write(`${apart}${report.map((line, i) => (i === 0 ? `agentctl: ${line}` : line)).join('\n')}\n`);
  });
