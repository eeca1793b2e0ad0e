/**
 * streamOutput (kernel/stream-output.ts): the operator's stream as a sink
 * with back-pressure, over a real Node Writable whose reader the test
 * controls; and an agent writing to it through the kernel, whose waiting
 * writes are bounded (EAGAIN) and dropped when it ends.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { MAX_BLOCKED_WRITE_BYTES } from '../../kernel/fd-table.ts';
import { programFromSource } from '../../kernel/program.ts';
import { streamOutput } from '../../kernel/stream-output.ts';
import { until, within } from '../until.ts';

/** reader is a Writable that takes a chunk only when `take` is called (its reader is slow); `got` is what it took, in order. */
function reader(highWaterMark = 1) {
  const got: string[] = [];
  const pending: (() => void)[] = [];
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, done) {
      got.push(chunk.toString());
      pending.push(done);
    },
  });
  const take = () => {
    for (const done of pending.splice(0)) done();
  };
  return { stream, got, take };
}

const bytes = (s: string) => new TextEncoder().encode(s);
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('streamOutput', () => {
  it('writes at once below the mark; past it a write waits for the stream to drain, and the chunks go in order', async () => {
    const r = reader();
    const sink = streamOutput(r.stream, 4);
    expect(sink(bytes('ab'))).toBeUndefined();
    expect(sink(bytes('cd'))).toBeUndefined();
    const third = sink(bytes('ef'));
    const fourth = sink(bytes('gh'));
    expect(third).toBeInstanceOf(Promise);
    const settled = { count: 0 };
    void third!.then(() => settled.count++);
    void fourth!.then(() => settled.count++);
    await turn();
    expect(settled.count).toBe(0);
    for (let i = 0; i < 10; i++) {
      r.take();
      await turn();
    }
    expect(settled.count).toBe(2);
    r.take();
    expect(r.got.join('')).toBe('abcdefgh');
    expect(r.stream.listenerCount('drain')).toBe(0);
  });

  it('a waiting write whose process ends is dropped (EINTR), and leaves no listener', async () => {
    const r = reader();
    const sink = streamOutput(r.stream, 1);
    sink(bytes('a'));
    const cancel = new AbortController();
    const held = sink(bytes('b'), cancel.signal)!;
    cancel.abort();
    await expect(held).rejects.toMatchObject({ errno: 'EINTR' });
    expect(r.stream.listenerCount('drain')).toBe(0);
    expect(r.stream.listenerCount('close')).toBe(0);
    r.take();
    await turn();
    expect(r.got).toEqual(['a']);
  });

  it('a stream that closes refuses what waits (EPIPE)', async () => {
    const r = reader();
    const sink = streamOutput(r.stream, 1);
    sink(bytes('a'));
    const held = sink(bytes('b'))!;
    r.stream.destroy();
    await expect(held).rejects.toMatchObject({ errno: 'EPIPE' });
  });

  it(`an agent's writes that wait for the operator's stream hold at most ${MAX_BLOCKED_WRITE_BYTES >> 20} MiB in the kernel: past it EAGAIN; killing it drops the rest`, async () => {
    const r = reader(1);
    const kernel = new Kernel({ stdout: streamOutput(r.stream), stderr: () => {}, limits: { syscallsPerSecond: 1e9, kernelMsPerSecond: 1e9 } });
    try {
      const proc = kernel.spawn(
        programFromSource(
          'flood.js',
          `const outcomes = [];
          for (let i = 0; i < 64; i++) outcomes.push(sys.async.write(1, new Uint8Array(1 << 20).fill(i)).then(() => 'ok', (e) => e.errno));
          const settled = await Promise.all(outcomes.slice(17));
          sys.write(2, settled.filter((o) => o === 'EAGAIN').length + ' refused');
          await Promise.all(outcomes);`,
        ),
        { stderr: (c) => void (said += new TextDecoder().decode(c)) },
      );
      let said = '';
      // The first goes into the stream; 16 wait for it to drain; the other 47 are refused.
      await until(() => said !== '', () => 'the refusals');
      expect(said).toBe('47 refused');
      expect(r.stream.listenerCount('drain')).toBe(1);
      kernel.kill(proc.pid, 'SIGKILL');
      await within(kernel.wait(proc.pid), 'the agent to end');
      expect(r.stream.listenerCount('drain')).toBe(0);
      r.take();
      expect(r.got.length).toBe(1);
    } finally {
      await kernel.shutdown();
    }
  });
});
