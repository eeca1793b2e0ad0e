/**
 * Pipelines: agents joined by SYS_PIPE, spawned with SYS_SPAWN and waited for
 * with SYS_WAIT. Bytes arrive intact and in order; a full pipe blocks its
 * writer until a reader drains it; writing with no reader left is EPIPE;
 * reading with no writer left is end of file. A process that dies while
 * blocked on a pipe takes nothing more from it and puts nothing more in.
 */
import { describe, expect, it } from 'vitest';
import { PIPE_CAPACITY } from '../../kernel/pipe.ts';
import { programFromSource } from '../../kernel/program.ts';
import { exited, hostPipe, kernelFor, printed, start } from '../live-agents.ts';
import { until } from '../until.ts';
import { agentctl } from './agentctl.ts';

const MIB = 1 << 20;

/** FNV-1a over bytes, the checksum both sides compute. */
const FNV = 'function fnv(h, bytes) { for (let i = 0; i < bytes.length; i++) { h ^= bytes[i]; h = Math.imul(h, 16777619) >>> 0; } return h; }';

/** The producer's bytes: xorshift32 from a fixed seed, so the host can compute the same. */
const XORSHIFT = 'function stream(n) { const out = new Uint8Array(n); let x = 2463534242; for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 255; } return out; }';

function hostChecksum(n: number, transform: (b: number) => number): number {
  // The same source text the agents run.
  const stream = new Function(`${XORSHIFT}; return stream;`)() as (n: number) => Uint8Array;
  const fnv = new Function(`${FNV}; return fnv;`)() as (h: number, b: Uint8Array) => number;
  return fnv(2166136261, stream(n).map(transform));
}

describe('examples/pipeline.ts', () => {
  it('runs under agentctl run as a child process, prints the expected count and exits 0', async () => {
    const items = 1000;
    const out = await agentctl(['run', 'examples/pipeline.ts', '--', String(items)]);
    let bytes = 0;
    for (let i = 1; i <= items; i++) bytes += `ITEM ${i}\n`.length;
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe(`count: ${items} lines, ${bytes} bytes; last line: ITEM ${items}\npipeline of 3 agents done (${items} items)\n`);
    expect(out.code).toBe(0);
  }, 60_000);
});

describe('a three-agent pipeline built with sys.pipe, sys.spawn and sys.wait', () => {
  it('moves 1 MiB from producer through a transformer to a consumer intact (checksum)', async () => {
    const kernel = kernelFor({
      programs: {
        produce: programFromSource('produce.js', `${XORSHIFT}
          const all = stream(Number(sys.args[0]));
          // Uneven chunks, so writes straddle the pipe's 64 KiB.
          for (let at = 0, n = 1; at < all.length; at += n, n = (n * 7 + 1000) % 100000 + 1) sys.write(1, all.subarray(at, Math.min(all.length, at + n)));
        `),
        invert: programFromSource('invert.js', `
          for (;;) { const c = sys.read(0, 30000); if (c.length === 0) break; for (let i = 0; i < c.length; i++) c[i] ^= 255; sys.write(1, c); }
        `),
        consume: programFromSource('consume.js', `${FNV}
          let h = 2166136261, n = 0;
          for (;;) { const c = sys.read(0, 65536); if (c.length === 0) break; h = fnv(h, c); n += c.length; }
          console.log(JSON.stringify({ bytes: n, checksum: h }));
        `),
      },
    });
    const parent = start(kernel, `
      const [r1, w1] = sys.pipe();
      const [r2, w2] = sys.pipe();
      const pids = [
        sys.spawn('produce', ['${MIB}'], { stdout: w1 }),
        sys.spawn('invert', [], { stdin: r1, stdout: w2 }),
        sys.spawn('consume', [], { stdin: r2 }),
      ];
      for (const fd of [r1, w1, r2, w2]) sys.close(fd);
      console.log(JSON.stringify(pids.map((pid) => sys.wait(pid).status)));
    `);
    expect(await exited(parent, 60_000)).toMatchObject({ status: 0 });
    const [consumed, statuses] = parent.stdout().trim().split('\n');
    expect(JSON.parse(statuses ?? '')).toEqual([0, 0, 0]);
    expect(JSON.parse(consumed ?? '')).toEqual({ bytes: MIB, checksum: hostChecksum(MIB, (b) => b ^ 255) });
  }, 60_000);
});

describe('back-pressure, EPIPE and end of file', () => {
  it("a writer filling a pipe nobody reads yet stays 'blocked' until a reader drains it", async () => {
    const kernel = kernelFor({ programs: { flood: programFromSource('flood.js', `const chunk = new Uint8Array(${256 * 1024}).fill(1); let n = 0; for (let i = 0; i < 4; i++) n += sys.write(1, chunk); console.error('wrote ' + n);`) } });
    const control = hostPipe();
    const parent = start(kernel, `
      const [r, w] = sys.pipe();
      const writer = sys.spawn('flood', [], { stdout: w });
      sys.close(w);
      console.log('writer ' + writer);
      sys.read(0); // wait for the test to say go
      let total = 0;
      for (;;) { const c = sys.read(r, 65536); if (c.length === 0) break; total += c.length; }
      console.log(JSON.stringify({ total, status: sys.wait(writer).status }));
    `, { fds: { stdin: control.stdin } });
    await printed(parent, 'writer ');
    const writer = kernel.get(parent.pid + 1)!;
    await until(() => writer.sandbox?.blockedInSyscall === true, 'the writer to block on the full pipe');
    // Asleep in its write: nothing but a reader wakes it, and a short or failed write would show in its line on stderr at the end.
    expect(writer.state).toBe('blocked');
    expect(writer.exit).toBeUndefined();
    expect(parent.stderr()).toBe('');
    await control.send('go');
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(parent.stderr()).toBe(`wrote ${MIB}\n`);
    expect(JSON.parse(parent.stdout().trim().split('\n')[1] ?? '')).toEqual({ total: MIB, status: 0 });
  });

  it('EPIPE for a writer blocked on a full pipe when its last reader goes away', async () => {
    const kernel = kernelFor({
      programs: {
        flood: programFromSource('flood.js', `try { sys.write(1, new Uint8Array(${MIB})); sys.exit(0); } catch (e) { sys.exit(e.errno === 'EPIPE' ? 32 : 1); }`),
        sip: programFromSource('sip.js', 'sys.read(0, 10);'),
      },
    });
    const parent = start(kernel, `
      const [r, w] = sys.pipe();
      const writer = sys.spawn('flood', [], { stdout: w });
      const reader = sys.spawn('sip', [], { stdin: r });
      sys.close(r);
      sys.close(w);
      console.log(JSON.stringify({ reader: sys.wait(reader).status, writer: sys.wait(writer).status }));
    `);
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(JSON.parse(parent.stdout())).toEqual({ reader: 0, writer: 32 });
  });

  it('EPIPE at once for a write to a pipe whose reader has exited', async () => {
    const kernel = kernelFor({ programs: { quit: programFromSource('quit.js', 'sys.getpid();') } });
    const parent = start(kernel, `
      const [r, w] = sys.pipe();
      const reader = sys.spawn('quit', [], { stdin: r });
      sys.close(r);
      sys.wait(reader);
      const e = syscall(SYS.SYS_WRITE, w, 'anyone?');
      console.log(e.errno);
    `);
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(parent.stdout()).toBe('EPIPE\n');
  });

  it('end of file once every writer has closed: a reader blocked before then wakes with the data and then EOF', async () => {
    const kernel = kernelFor({ programs: { say: programFromSource('say.js', "sys.write(1, sys.args[0] + '\\n');") } });
    const parent = start(kernel, `
      const [r, w] = sys.pipe();
      const pids = ['alpha', 'beta', 'gamma'].map((word) => sys.spawn('say', [word], { stdout: w }));
      sys.close(w);
      let text = '';
      for (;;) { const c = sys.read(r); if (c.length === 0) break; text += sys.decodeUtf8(c); }
      const after = sys.read(r).length;
      for (const pid of pids) sys.wait(pid);
      console.log(JSON.stringify({ lines: text.trim().split('\\n').sort(), after }));
    `);
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(JSON.parse(parent.stdout())).toEqual({ lines: ['alpha', 'beta', 'gamma'], after: 0 });
  });

  it('a reader killed while blocked does not take bytes meant for the pipe’s other reader', async () => {
    const kernel = kernelFor({ programs: { grab: programFromSource('grab.js', "console.log('grabbed ' + sys.decodeUtf8(sys.read(0)));") } });
    const control = hostPipe();
    const parent = start(kernel, `
      const [r, w] = sys.pipe();
      const grabber = sys.spawn('grab', [], { stdin: r });
      console.log('grabber ' + grabber);
      sys.read(0);
      sys.write(w, 'for the parent');
      sys.close(w);
      console.log('parent read ' + sys.decodeUtf8(sys.read(r)));
      console.log('grabber status ' + sys.wait(grabber).status);
    `, { fds: { stdin: control.stdin } });
    await printed(parent, 'grabber ');
    const grabber = kernel.get(parent.pid + 1)!;
    await until(() => grabber.sandbox?.blockedInSyscall === true, 'the grabber to block on the empty pipe');
    kernel.kill(grabber.pid, 'SIGKILL');
    await grabber.exited;
    await control.send('go');
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(parent.stdout()).toBe(`grabber ${grabber.pid}\nparent read for the parent\ngrabber status 132\n`);
  });

  it('a writer killed while blocked on a full pipe puts nothing more in it', async () => {
    const kernel = kernelFor({ programs: { flood: programFromSource('flood.js', `sys.write(1, new Uint8Array(${4 * PIPE_CAPACITY}).fill(9));`) } });
    const control = hostPipe();
    const parent = start(kernel, `
      const [r, w] = sys.pipe();
      const writer = sys.spawn('flood', [], { stdout: w });
      sys.close(w);
      console.log('writer ' + writer);
      sys.read(0);
      let total = 0;
      for (;;) { const c = sys.read(r); if (c.length === 0) break; total += c.length; }
      console.log('drained ' + total + ', writer ' + sys.wait(writer).status);
    `, { fds: { stdin: control.stdin } });
    await printed(parent, 'writer ');
    const writer = kernel.get(parent.pid + 1)!;
    await until(() => writer.sandbox?.blockedInSyscall === true, 'the writer to block on the full pipe');
    kernel.kill(writer.pid, 'SIGKILL');
    await writer.exited;
    await control.send('go');
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(parent.stdout().trim().split('\n')[1]).toBe(`drained ${PIPE_CAPACITY}, writer 132`);
  });

  it('a pipe end passed to a child stays open for the parent: the parent still reads after the child exits', async () => {
    const kernel = kernelFor({ programs: { say: programFromSource('say.js', "sys.write(1, 'from child');") } });
    const parent = start(kernel, `
      const [r, w] = sys.pipe();
      sys.wait(sys.spawn('say', [], { stdout: w }));
      sys.write(w, ' and parent');
      sys.close(w);
      console.log(sys.decodeUtf8(sys.read(r)));
    `);
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(parent.stdout()).toBe('from child and parent\n');
  });
});
