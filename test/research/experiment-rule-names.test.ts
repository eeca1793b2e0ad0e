/**
 * An experiment's decisions by rule are keyed by rule id, and the policy schema allows ids such as `constructor` and
 * `toString`: on a plain object the tally found the inherited built-in, so the counts were written onto agentctl's
 * Object and Function.prototype.toString and the results (results.jsonl, the report's chart) lost the rule (an
 * attacker pass).
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
