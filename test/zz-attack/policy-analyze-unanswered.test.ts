/**
 * Attack: `policy analyze` exits 0 ("nothing dead or shadowed") while it
 * could not decide a question — here whether rule d can match at all, so its
 * shadowing and conflicts were never checked (bin/commands/policy-analysis.ts:
 * `dead || shadowed ? 1 : 0`; diff and prove exit 3 for the same situation).
 * A CI gate on analyze passes on a policy it did not analyse.
 *
 * The unanswered question comes from a second defect: an argument named
 * `__proto__` (the engine matches it: compile.ts reads args with Object.hasOwn)
 * is lost when a witness is built (analysis/witness.ts `args[name] = …` sets
 * the prototype), so every witness is refuted and prove says "unknown" where
 * a counterexample exists.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { agentctl } from '../research/agentctl.ts';

const dir = mkdtempSync(join(tmpdir(), 'zz-analyze-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const POLICY = 'version: 1\nrules:\n  - id: d\n    effect: deny\n    syscalls: [SYS_OPEN]\n    args: [{arg: "__proto__", equals: "x"}]\n  - id: a\n    effect: allow\n    syscalls: [SYS_OPEN]\n';

it('analyze does not exit 0 when a question went unanswered', async () => {
  writeFileSync(join(dir, 'p.yaml'), POLICY);
  const r = await agentctl(['policy', 'analyze', 'p.yaml'], { cwd: dir });
  expect(r.stdout).toMatch(/unanswered/);
  expect(r.code).not.toBe(0);
}, 30_000);

it('prove finds the counterexample of a deny on an argument named __proto__', async () => {
  writeFileSync(join(dir, 'p.yaml'), POLICY);
  const r = await agentctl(['policy', 'prove', 'p.yaml', 'never deny when syscall = SYS_OPEN and not flow vfs-to-exec'], { cwd: dir });
  expect(r.stdout).toMatch(/^counterexample/);
  expect(r.code).toBe(1);
}, 30_000);
