/**
 * The shipped examples, loaded from disk with programFromFile and run in a
 * real kernel, print exactly what their comments promise.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel/kernel.ts';
import { programFromFile } from '../kernel/program.ts';
import { capture } from './helpers.ts';

const HELLO = fileURLToPath(new URL('../examples/hello.ts', import.meta.url));
const NOTES = fileURLToPath(new URL('../examples/notes.ts', import.meta.url));

/** runFile runs an example file in `kernel` and returns its exit record and output. */
async function runFile(kernel: Kernel, file: string, options: { argv?: string[]; agentId?: string } = {}) {
  const stdout = capture();
  const stderr = capture();
  const proc = kernel.spawn(programFromFile(file), { ...options, stdout: stdout.sink, stderr: stderr.sink });
  const exit = await kernel.wait(proc.pid);
  return { exit, stdout: stdout.text, stderr: stderr.text };
}

describe('examples/hello.ts', () => {
  it('greets the world by default, naming its pid and agent', async () => {
    const kernel = new Kernel();
    const { exit, stdout, stderr } = await runFile(kernel, HELLO);
    expect(exit.status).toBe(0);
    expect(exit.reason).toEqual({ kind: 'exit' });
    expect(stdout).toBe(`hello, world, from pid ${exit.pid} (agent agent-${exit.pid})\n`);
    expect(stderr).toBe('');
    expect(exit.syscalls).toBe(2);
  });

  it('greets its first argument under the agent id it was given', async () => {
    const kernel = new Kernel();
    await runFile(kernel, HELLO);
    const { exit, stdout } = await runFile(kernel, HELLO, { argv: ['Ada', 'ignored'], agentId: 'greeter' });
    expect(exit.pid).toBe(2);
    expect(stdout).toBe('hello, Ada, from pid 2 (agent greeter)\n');
  });
});

describe('examples/notes.ts', () => {
  it('writes the default notes and reads them back', async () => {
    const kernel = new Kernel();
    const { exit, stdout, stderr } = await runFile(kernel, NOTES, { agentId: 'keeper' });
    expect(exit.status).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toBe(
      [
        '2 notes in /agent/keeper/mem/episodic/notes:',
        '  000.txt (17 bytes): remember the milk',
        '  001.txt (10 bytes): call Alice',
        '',
      ].join('\n'),
    );
  });

  it('counts UTF-8 bytes, not characters', async () => {
    const { stdout } = await runFile(new Kernel(), NOTES, { agentId: 'utf8', argv: ['café ☕'] });
    expect(stdout).toBe('1 notes in /agent/utf8/mem/episodic/notes:\n  000.txt (9 bytes): café ☕\n');
  });

  it('a second run with the same agent id still lists the notes of the first', async () => {
    const kernel = new Kernel();
    const first = await runFile(kernel, NOTES, { agentId: 'diary', argv: ['alpha', 'beta', 'gamma'] });
    expect(first.exit.status).toBe(0);
    expect(first.stdout).toBe('3 notes in /agent/diary/mem/episodic/notes:\n  000.txt (5 bytes): alpha\n  001.txt (4 bytes): beta\n  002.txt (5 bytes): gamma\n');
    const second = await runFile(kernel, NOTES, { agentId: 'diary', argv: ['z'] });
    expect(second.exit.status).toBe(0);
    expect(second.exit.pid).not.toBe(first.exit.pid);
    expect(second.stdout).toBe('3 notes in /agent/diary/mem/episodic/notes:\n  000.txt (1 bytes): z\n  001.txt (4 bytes): beta\n  002.txt (5 bytes): gamma\n');
  });

  it('another agent id in the same kernel has its own, separate notes', async () => {
    const kernel = new Kernel();
    await runFile(kernel, NOTES, { agentId: 'one', argv: ['a', 'b', 'c'] });
    const other = await runFile(kernel, NOTES, { agentId: 'two', argv: ['only'] });
    expect(other.stdout).toBe('1 notes in /agent/two/mem/episodic/notes:\n  000.txt (4 bytes): only\n');
  });
});
