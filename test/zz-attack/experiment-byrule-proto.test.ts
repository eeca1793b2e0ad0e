/**
 * Attack: an experiment's "decisions by rule" is a plain object keyed by rule id
 * (kernel/experiments/cell.ts `byRule[record.rule] ??= {}`). A rule id the schema
 * accepts that names an Object.prototype member (`constructor`, `toString`)
 * finds the inherited function instead of a fresh tally: the counts are written
 * onto Object / Function.prototype.toString of the agentctl process, and the
 * results (results.jsonl, report.html's "Decisions by rule") lose the rule.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { agentctl, REPO } from '../research/agentctl.ts';

const dir = mkdtempSync(join(tmpdir(), 'zz-exp-proto-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('counts the decisions of a rule named constructor or toString', async () => {
  writeFileSync(join(dir, 'pol.yaml'), 'version: 1\nrules:\n  - id: constructor\n    effect: allow\n    syscalls: [SYS_GETPID]\n  - id: toString\n    effect: allow\n    syscalls: [SYS_WRITE]\n  - id: other\n    effect: allow\n');
  writeFileSync(join(dir, 'exp.yaml'), `name: proto\nprograms: { hello: ${JSON.stringify(join(REPO, 'examples', 'hello.ts'))} }\npolicies: { p: pol.yaml }\n`);
  const r = await agentctl(['experiment', 'run', join(dir, 'exp.yaml'), '--out', join(dir, 'out')], { cwd: dir, timeoutMs: 60_000 });
  expect(r.code).toBe(0);
  const cell = JSON.parse(readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8').trim()) as { decisions: Record<string, number>; byRule: Record<string, Record<string, number>> };
  expect(cell.decisions.allow).toBe(2);
  // Every decision is some rule's: the tallies by rule add up to the decisions.
  expect(cell.byRule).toEqual({ constructor: { allow: 1 }, toString: { allow: 1 } });
}, 60_000);
