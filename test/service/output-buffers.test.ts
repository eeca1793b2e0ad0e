/**
 * OutputBuffers (kernel/service/output.ts): agentd keeps the last 64 KiB of
 * each process's output; children share their parent's sinks. Found by an
 * attacker pass: an orphan writing after the reaper forgot its root made the
 * root's entry again, 128 KiB per reaped root, for good.
 */
import { describe, expect, it } from 'vitest';
import { OutputBuffers } from '../../kernel/service/output.ts';

const text = (s: string) => new TextEncoder().encode(s);

describe('OutputBuffers', () => {
  it('keeps what is written before and after the pid is known, under that pid; the last 64 KiB of each stream', () => {
    const outputs = new OutputBuffers();
    const sinks = outputs.sinks();
    sinks.stdout(text('early '));
    sinks.bind(7);
    sinks.stdout(text('late'));
    sinks.stderr(text('x'.repeat(70_000)));
    expect(outputs.get(7).stdout).toBe('early late');
    expect(outputs.get(7).stderr.length).toBe(64 * 1024);
  });

  it("once a process is forgotten, what its sinks still get (an orphan's writes) is dropped, not kept again", () => {
    const outputs = new OutputBuffers();
    const sinks = outputs.sinks();
    sinks.bind(3);
    sinks.stdout(text('root'));
    outputs.forget(3);
    for (let i = 0; i < 10; i++) sinks.stdout(text('orphan '.repeat(10_000)));
    expect(outputs.size).toBe(0);
    expect(outputs.get(3)).toEqual({ stdout: '', stderr: '' });
  });
});
