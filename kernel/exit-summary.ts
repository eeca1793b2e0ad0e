/**
 * How a process's ending reads to an operator, from its exit record's
 * reason: one line for `ps`, the decision log and agentd's own log, and the
 * full account (an uncaught error's agent-side stack) for `agentctl output`.
 * The text comes from the agent (an error's message), so control characters
 * are escaped: an agent cannot move an operator's cursor or split a log line.
 */
import { match } from 'ts-pattern';
import type { ExitReason } from './process.ts';
import { printable } from './terminal-text.ts';

/** Characters of a summary line unless the caller asks for fewer. */
export const SUMMARY_CHARS = 240;

/** clip keeps at most `max` characters, marking a cut with an ellipsis. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** errorLine is an error text's first line and, when there is one, its top stack frame: `Error: boom (at main (agent.ts:3:9))`. */
function errorLine(error: string): string {
  const lines = error.split('\n');
  const frame = lines.find((l) => /^\s+at /.test(l))?.trim();
  const first = lines[0]?.trim() || 'error';
  return frame === undefined ? first : `${first} (${frame})`;
}

/**
 * exitSummary is one line (at most `max` characters, control characters
 * escaped) saying how a process ended: `exit(0)`, `Error: boom (at main
 * (agent.ts:3:9))`, `killed by SIGKILL (memory limit exceeded)`, `killed by
 * SIGKILL from operator`.
 */
export function exitSummary(reason: ExitReason, status: number, max = SUMMARY_CHARS): string {
  const text = match(reason)
    .with({ kind: 'exit' }, () => `exit(${status})`)
    .with({ kind: 'error' }, (r) => errorLine(r.error))
    .with({ kind: 'signal' }, (r) => (r.why.startsWith(`${r.signal} from `) ? `killed by ${r.why}` : `killed by ${r.signal} (${r.why})`))
    .exhaustive();
  return clip(printable(text), max);
}

/**
 * exitReport is the full account of an ending, as lines without their
 * newlines: `pid N exited(S)`, with the summary for a signal, or for an
 * error followed by its whole text (the agent-side stack at the author's
 * positions, its cause chain; tabs as spaces, other control characters
 * escaped).
 */
export function exitReport(pid: number, reason: ExitReason, status: number): string[] {
  const head = `pid ${pid} exited(${status})`;
  if (reason.kind === 'exit') return [head];
  if (reason.kind === 'signal') return [`${head}: ${exitSummary(reason, status)}`];
  return [`${head}, error:`, ...reason.error.split('\n').map((l) => printable(l.replaceAll('\t', '    ')))];
}
