/**
 * What an experiment found, by group (a program under a policy, over its
 * repetitions): outcomes, time, decisions, denials, violations, signals and
 * tokens; and the terminal's table of it.
 */
import { printable } from '../terminal-text.ts';
import type { CellResult } from './cell.ts';

export interface GroupSummary {
  readonly program: string;
  readonly policy: string;
  readonly runs: number;
  readonly ok: number;
  readonly failed: number;
  readonly killed: number;
  readonly medianMs: number;
  readonly calls: number;
  readonly allowed: number;
  readonly denied: number;
  readonly asked: number;
  readonly violations: number;
  readonly signals: Readonly<Record<string, number>>;
  readonly tokens: number;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** summarize groups cells by program and policy, in the order they first appear. */
export function summarize(results: readonly CellResult[]): GroupSummary[] {
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    const key = `${r.program}\0${r.policy}`;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [r]);
    else list.push(r);
  }
  return [...groups.values()].map((cells) => {
    const signals: Record<string, number> = {};
    for (const c of cells) for (const [name, n] of Object.entries(c.signals)) signals[name] = (signals[name] ?? 0) + n;
    const sum = (f: (c: CellResult) => number) => cells.reduce((n, c) => n + f(c), 0);
    return {
      program: cells[0]!.program,
      policy: cells[0]!.policy,
      runs: cells.length,
      ok: cells.filter((c) => c.outcome === 'ok').length,
      failed: cells.filter((c) => c.outcome === 'failed').length,
      killed: cells.filter((c) => c.outcome === 'killed').length,
      medianMs: median(cells.map((c) => c.ms)),
      calls: sum((c) => c.calls),
      allowed: sum((c) => c.decisions.allow),
      denied: sum((c) => c.decisions.deny),
      asked: sum((c) => c.decisions.require_approval),
      violations: sum((c) => c.violations),
      signals,
      tokens: sum((c) => c.tokens),
    };
  });
}

/** table writes the summary as aligned text for a terminal: one row a group; names escaped (an adversarial program's is its file's, anyone's choosing). */
export function table(groups: readonly GroupSummary[]): string {
  const head = ['PROGRAM', 'POLICY', 'RUNS', 'OK', 'FAILED', 'KILLED', 'MEDIAN MS', 'CALLS', 'DENIED', 'ASKED', 'VIOLATIONS', 'SIGNALS', 'TOKENS'];
  const rows = groups.map((g) => [
    printable(g.program),
    printable(g.policy),
    String(g.runs),
    String(g.ok),
    String(g.failed),
    String(g.killed),
    g.medianMs.toFixed(1),
    String(g.calls),
    String(g.denied),
    String(g.asked),
    String(g.violations),
    Object.entries(g.signals).map(([name, n]) => `${name}×${n}`).join(',') || '-',
    String(g.tokens),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const text = [head, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  return `${text}\n(counts are totals over each row's runs; MEDIAN MS is a run's)\n`;
}
