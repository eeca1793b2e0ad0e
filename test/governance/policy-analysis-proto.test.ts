/**
 * An argument named `__proto__` (the engine matches it as an own key: compile.ts reads args with Object.hasOwn) was
 * lost when a witness was built (analysis/witness.ts set the prototype instead), so every witness was refuted and
 * prove said "unknown" where a counterexample exists (an attacker pass). policy analyze now also exits 3 when a
 * question went unanswered, as diff and prove do; no policy here makes the solver leave one unanswered quickly, so
 * that exit has no test of its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { agentctl } from '../research/agentctl.ts';

const dir = mkdtempSync(join(tmpdir(), 'zz-analyze-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const POLICY = 'version: 1\nrules:\n  - id: d\n    effect: deny\n    syscalls: [SYS_OPEN]\n    args: [{arg: "__proto__", equals: "x"}]\n  - id: a\n    effect: allow\n    syscalls: [SYS_OPEN]\n';


it('prove finds the counterexample of a deny on an argument named __proto__', async () => {
  writeFileSync(join(dir, 'p.yaml'), POLICY);
  const r = await agentctl(['policy', 'prove', 'p.yaml', 'never deny when syscall = SYS_OPEN and not flow vfs-to-exec'], { cwd: dir });
  expect(r.stdout).toMatch(/^counterexample/);
  expect(r.code).toBe(1);
}, 30_000);
