/**
 * A recorded run whose tape was edited to hold a deeply nested reply (100,000 levels, 200 KB) was decoded by
 * recursion before its seal was compared: the replay ended with "RangeError: Maximum call stack size exceeded",
 * naming no file or line (an attacker pass). The tape's check refuses such a line, naming it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { agentctl } from '../research/agentctl.ts';

const dir = mkdtempSync(join(tmpdir(), 'zz-deep-tape-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('refuses a tape edited to hold a deeply nested value, naming the tape (not a stack overflow)', async () => {
  writeFileSync(join(dir, 'prog.ts'), "sys.write(1, 'abc');\n");
  const rec = join(dir, 'rec');
  const r1 = await agentctl(['run', '--record', rec, join(dir, 'prog.ts')], { cwd: dir });
  expect(r1.code).toBe(0);
  const tape = join(rec, 'tape.jsonl');
  const depth = 100_000;
  const lines = readFileSync(tape, 'utf8').split('\n');
  const at = lines.findIndex((l) => l.startsWith('{"k":"c"') && l.includes('"abc"'));
  expect(at).toBeGreaterThan(0);
  lines[at] = lines[at]!.replace(/"r":\{"t":"value","v":3\}/, `"r":{"t":"value","v":${'['.repeat(depth)}${']'.repeat(depth)}}`);
  writeFileSync(tape, lines.join('\n'));
  const r = await agentctl(['replay-run', rec], { cwd: dir });
  expect(r.code).toBe(2);
  expect(r.stderr).not.toMatch(/RangeError|Maximum call stack/);
  expect(r.stderr).toMatch(/tape\.jsonl/);
}, 30_000);
