/**
 * `agentctl replay LOG --policy NEW.yaml` (or `--redis URL`): re-decide a
 * decision log's requests under a candidate policy (kernel/replay) and say
 * what would change. Exit 0; 1 with --fail-on-change when a decision
 * changes or cannot be re-decided; 2 when the log or the policy cannot be
 * used (one line naming it).
 */
import { Replayer, ReplayError, type ReplaySummary } from '../../kernel/replay/replay.ts';
import { replayFile, replayStreams } from '../../kernel/replay/sources.ts';
import { verifyLogFile } from '../../kernel/recorder/verify-file.ts';
import { printable } from '../../kernel/terminal-text.ts';
import { shownUrl } from './audit.ts';
import { unreadable } from './input-file.ts';
import { readPolicy } from './policy-file.ts';
import { wholeNumber } from './whole-number.ts';

export interface ReplayOptions {
  policy?: string;
  json?: boolean;
  failOnChange?: boolean;
  show?: string;
  verify?: boolean;
  redis?: string;
  prefix?: string;
  node?: string;
}

/** fail says why the replay cannot be made, in one line (a log's bad record is quoted in it, escaped). */
function fail(message: string): number {
  process.stderr.write(`agentctl: ${printable(message)}\n`);
  return 2;
}

/** table prints counts, largest first (the names are the log's: an agent's, a path, a tool, escaped). */
function table(title: string, counts: Readonly<Record<string, number>>): string {
  const rows = Object.entries(counts).map(([k, n]): [string, number] => [printable(k), n]).toSorted((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (rows.length === 0) return '';
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${title}:\n${rows.map(([k, n]) => `  ${k.padEnd(width)}  ${n}`).join('\n')}\n`;
}

/** at names a record: its seq, and its node's name when the log is a cluster's streams (each node numbers its own). */
const at = (c: { node?: string; seq: number }): string => (c.node !== undefined ? `${c.node}#${c.seq}` : `#${c.seq}`);

const where = (c: { syscall: string; tool?: string; path?: string }): string => `${c.syscall}${c.tool !== undefined ? ` ${c.tool}` : ''}${c.path !== undefined ? ` ${c.path}` : ''}`;

/**
 * report is the text summary of a replay of `log`. What the log says (agent
 * names, paths, tools, rules, reasons) is the agents' choosing: each line of
 * it is escaped (terminal-text.ts), so a record cannot move the operator's
 * cursor or fake a line.
 */
function report(log: string, policyFile: string, s: ReplaySummary): string {
  let out = `replay of ${log} under ${policyFile} (${s.policy})\n`;
  out += `  ${s.records} records, ${s.decisions} decisions: ${s.replayed} re-decided, ${s.kernel} decided by the kernel before the policy (kept), ${s.undecidable} undecidable\n`;
  out += `  unchanged ${s.unchanged + s.otherRule} (${s.otherRule} by another rule), changed ${s.changed}\n`;
  if (s.changed > 0) out += `\n${table('changes by direction', s.directions)}${table('by rule (recorded → candidate)', s.byRule)}${table('by agent', s.byAgent)}${table('by syscall or tool', s.bySyscall)}`;
  if (s.changes.length > 0) {
    out += `\nfirst ${s.changes.length} changes:\n`;
    for (const c of s.changes) out += `  ${printable(`${at(c)} ${new Date(c.time).toISOString()} ${c.agent} ${where(c)}`)}\n      ${printable(`${c.before.effect} (${c.before.rule}) → ${c.after.effect} (${c.after.rule}: ${c.after.reason})`)}\n`;
  }
  if (s.undecidables.length > 0) {
    out += `\nundecidable (first ${s.undecidables.length}):\n`;
    for (const u of s.undecidables) out += `  ${printable(`${at(u)} ${u.agent} ${where(u)}: ${u.why}`)}\n`;
  }
  return out;
}


export async function replayCommand(log: string | undefined, options: ReplayOptions): Promise<number> {
  if (options.policy === undefined) return fail('replay needs --policy FILE: the candidate policy to re-decide the log under');
  if ((log === undefined) === (options.redis === undefined)) return fail('replay reads one log: a file (LOG) or the decision streams of a cluster (--redis URL), not both and not neither');
  if (log !== undefined && (options.node !== undefined || options.prefix !== undefined)) return fail('--node and --prefix choose decision streams in Redis: they go with --redis URL, not with a log file');
  const show = options.show === undefined ? 20 : (wholeNumber(options.show) ?? -1);
  if (show < 0) return fail(`--show takes a count, not '${options.show}'`);
  const policy = readPolicy(options.policy);
  if (typeof policy === 'string') return fail(policy);
  const replayer = new Replayer(policy, show);
  let source: string;
  try {
    if (log !== undefined) {
      source = log;
      if (options.verify) {
        const verified = verifyLogFile(log);
        if (!verified.ok) return fail(`${log}: does not verify, so it is not replayed: ${verified.problem!.message}`);
      }
      replayFile(log, replayer);
    } else {
      const prefix = options.prefix ?? 'agentk';
      source = `${shownUrl(options.redis!)} ${prefix}${options.node !== undefined ? ` node ${options.node}` : ''}`;
      const code = await fromRedis(options.redis!, prefix, options, replayer);
      if (code !== 0) return code;
    }
  } catch (err) {
    if (err instanceof ReplayError) return fail(err.message);
    return fail(`${log ?? shownUrl(options.redis!)}: ${unreadable(err)}`);
  }
  const summary = replayer.summary();
  process.stdout.write(options.json ? `${JSON.stringify({ log: source, policyFile: options.policy, ...summary })}\n` : report(source, options.policy, summary));
  if (!options.failOnChange || (summary.changed === 0 && summary.undecidable === 0)) return 0;
  if (!options.json) process.stderr.write(`agentctl: --fail-on-change: ${summary.changed} decisions change, ${summary.undecidable} cannot be re-decided\n`);
  return 1;
}

async function fromRedis(url: string, prefix: string, options: ReplayOptions, replayer: Replayer): Promise<number> {
  const [{ connectRedis, whenReady }, { verifyStreams }] = await Promise.all([import('../../kernel/redis/connect.ts'), import('../../kernel/recorder/redis-verify.ts')]);
  const client = connectRedis({ url, commandTimeoutMs: 10_000 });
  try {
    await whenReady(client, 3000);
    if (options.verify) {
      const verified = await verifyStreams(client, prefix);
      const bad = verified.nodes.find((n) => !n.ok && (options.node === undefined || n.node === options.node));
      if (bad !== undefined) return fail(`${bad.node}'s decision stream does not verify, so it is not replayed: ${bad.problems[0]?.message ?? 'records are missing'}`);
    }
    await replayStreams(client, prefix, replayer, options.node);
    return 0;
  } finally {
    client.disconnect();
  }
}
