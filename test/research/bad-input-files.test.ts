/**
 * Files handed to agentctl that are not files (a bad-input pass): a FIFO
 * hung policy, manifest, experiment, log and program reads for ever, and
 * /dev/zero grew them to gigabytes; a YAML alias bomb gave a stack trace or
 * no file; a wall_ms past 2^31 - 1 ms killed the program at its start.
 * Each is now one line naming the file, status 2 (policy validate: 1, its
 * "invalid"), in well under the 30 s each command is given here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, REPO } from './agentctl.ts';

let dir: string;
let fifo: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentctl-bad-files-'));
  fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: readonly string[]) => agentctl(args, { cwd: REPO, timeoutMs: 30_000 });

describe('agentctl given a FIFO or a device for a file', () => {
  const cases: [string, (file: string) => string[], number][] = [
    ['policy validate', (f) => ['policy', 'validate', f], 1],
    ['run --policy', (f) => ['run', 'examples/hello.ts', '--policy', f], 2],
    ['run --manifest', (f) => ['run', 'examples/hello.ts', '--manifest', f], 2],
    ['run --tools', (f) => ['run', 'examples/hello.ts', '--tools', f], 2],
    ['run (the program)', (f) => ['run', f], 2],
    ['run --log', (f) => ['run', 'examples/hello.ts', '--log', f], 2],
    ['experiment run', (f) => ['experiment', 'run', f, '--out', join(dir, 'out')], 2],
    ['audit verify', (f) => ['audit', 'verify', f], 2],
    ['replay', (f) => ['replay', f, '--policy', 'examples/policies/notes.yaml'], 2],
  ];
  for (const [what, args, status] of cases) {
    it(`${what}: a FIFO and /dev/zero are refused at once, naming the file`, async () => {
      for (const file of [fifo, '/dev/zero']) {
        const out = await run(args(file));
        expect({ code: out.code, signal: out.signal }, `${what} ${file}: ${out.stderr}`).toEqual({ code: status, signal: null });
        expect(out.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`${file.replace(/[/.]/g, '\\$&')}.*not a regular file`))]);
      }
    });
  }
});

describe('agentctl given a YAML alias bomb', () => {
  it('names the file and the line of its first alias (a stack trace, or no file, before)', async () => {
    const bomb = join(dir, 'bomb.yaml');
    writeFileSync(bomb, ['version: 1', 'a: &a ["x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'rules: []', ''].join('\n'));
    const validated = await run(['policy', 'validate', bomb]);
    expect({ code: validated.code, stderr: validated.stderr }).toEqual({ code: 1, stderr: `${bomb}:3:8: Excessive alias count indicates a resource exhaustion attack\n` });
    const ran = await run(['run', 'examples/hello.ts', '--policy', bomb]);
    expect({ code: ran.code, stderr: ran.stderr }).toEqual({ code: 2, stderr: `agentctl: ${bomb}:3:8: Excessive alias count indicates a resource exhaustion attack\n` });
    const experiment = await run(['experiment', 'run', bomb, '--out', join(dir, 'out-bomb')]);
    expect(experiment.code).toBe(2);
    expect(experiment.stderr).toMatch(new RegExp(`^agentctl: ${bomb.replace(/[/.]/g, '\\$&')}:3:8: Excessive alias count`));
  });
});

describe('a wall_ms past the longest timer Node keeps', () => {
  it('is kept, not fired at once (the program was killed at its start)', async () => {
    const out = await run(['run', 'examples/hello.ts', '--limit', 'wall_ms=3000000000', '--', 'Ada']);
    expect({ code: out.code, stderr: out.stderr }).toEqual({ code: 0, stderr: '' });
  });
});

describe('numbers on the command line', () => {
  it("are plain decimal digits: '' (an unset variable), ' 3', '0x10' and 1e20 are refused, not read as 0, 3, 16 or an inexact number", async () => {
    for (const value of ['', ' 3', '0x10', '99999999999999999999']) {
      const forked = await run(['replay-run', dir, '--fork-at', value]);
      expect({ code: forked.code, stderr: forked.stderr }, `--fork-at '${value}'`).toEqual({ code: 2, stderr: expect.stringContaining('--fork-at must be a call number') });
      const limited = await run(['run', 'examples/hello.ts', '--limit', `cpu_ms=${value}`]);
      expect({ code: limited.code, stderr: limited.stderr }, `cpu_ms='${value}'`).toEqual({ code: 2, stderr: expect.stringContaining('--limit cpu_ms: give a whole number') });
    }
  });
});

describe('an empty decision log', () => {
  it('does not verify: a kernel\'s log starts with its policy record, so an emptied one said "ok: 0 records" before', async () => {
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    const out = await run(['audit', 'verify', empty]);
    expect({ code: out.code, stdout: out.stdout }).toEqual({ code: 1, stdout: `FAILED at seq 1: ${empty} holds no records, where a kernel's log starts with its policy record: emptied or truncated\n` });
  });
});
