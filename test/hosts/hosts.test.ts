/**
 * Sandbox hosts (kernel/hosts): agents' isolates run in host processes the
 * kernel starts, watches and replaces. What one agent does to its host — V8's
 * catastrophic out-of-memory path, the host killed outright or hung — costs
 * its neighbours on other hosts nothing and never degrades the kernel.
 * Real host processes, real isolates, the kernel's own log.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.ts';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import type { ExitRecord } from '../../kernel/process.ts';
import { programFromSource } from '../../kernel/program.ts';
import { exitStatusForSignal } from '../../signals/signal-table.ts';
import { capture, testKernel } from '../helpers.ts';
import { until, within } from '../until.ts';

/** The status of a process SIGKILL ended (128 + its number in the signal table). */
const KILLED = exitStatusForSignal('SIGKILL');

/** The one line of agent code that takes V8 down its catastrophic out-of-memory path (it never returns). */
const CATASTROPHIC = "const o = {}; let i = 0; while (true) o['k' + i++] = i;";

/** A healthy agent: timers, files and output, then its own line. */
const healthy = (n: number) => `await new Promise((r) => setTimeout(r, 50 + ${n} % 7 * 30)); sys.writeFile('mem/working/n.txt', '${n}'); for (let i = 0; i < 200; i++) sys.getpid(); console.log('healthy ${n}', sys.readFile('mem/working/n.txt'));`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.shutdown();
  kernel = undefined;
});

function make(count: number, agentsPerHost = 64, hangMs?: number): { kernel: Kernel; log: MemoryDecisionLog } {
  const log = new MemoryDecisionLog();
  kernel = testKernel({ recorder: log, hosts: { count, agentsPerHost, ...(hangMs !== undefined ? { hangMs } : {}) } }).kernel;
  return { kernel, log };
}

async function start(k: Kernel, name: string, source: string, agentId?: string): Promise<{ pid: number; out: ReturnType<typeof capture>; exited: Promise<ExitRecord> }> {
  const out = capture();
  const proc = await k.spawnAsync(programFromSource(name, source), { stdout: out.sink, stderr: out.sink, ...(agentId ? { agentId } : {}) });
  return { pid: proc.pid, out, exited: k.wait(proc.pid) };
}

const hostEvents = (log: MemoryDecisionLog) => log.list().flatMap((r) => (r.type === 'limit' && 'detail' in r && r.detail.startsWith('sandbox host') ? [r.detail] : []));

describe('sandbox hosts', () => {
  it('run agents as the kernel does: output, files, timers, exit status, one decision log', async () => {
    const { kernel: k, log } = make(2);
    const a = await start(k, 'a.ts', "console.log('pid', sys.getpid()); await new Promise((r) => setTimeout(r, 10)); process.exitCode = 3;");
    expect(await within(a.exited, 'the agent to end')).toMatchObject({ status: 3, reason: { kind: 'exit' } });
    expect(a.out.text).toBe(`pid ${a.pid}\n`);
    expect(log.list().some((r) => r.type === 'syscall' && r.syscall === 'SYS_TIMER' && r.pid === a.pid)).toBe(true);
    await k.hosts!.readyOnce();
    expect(k.hosts?.info().map((h) => [h.state, h.ready])).toEqual([['ready', true], ['ready', true], ['spare', true]]);
  });

  it('one agent taking the catastrophic path costs 20 healthy neighbours nothing; its host is drained and replaced, the kernel never degraded', async () => {
    const { kernel: k, log } = make(2);
    const good = await Promise.all(Array.from({ length: 20 }, (_, n) => start(k, `good-${n}.ts`, healthy(n), `good-${n}`)));
    const bad = await start(k, 'bad.ts', CATASTROPHIC, 'bad');
    const badEnd = await within(bad.exited, 'the catastrophic agent to end', 60_000);
    expect(badEnd).toMatchObject({ status: KILLED, reason: { kind: 'signal', signal: 'SIGKILL' } });
    expect(JSON.stringify(badEnd.reason)).toMatch(/catastrophic out-of-memory.*sandbox host is drained and replaced/);
    expect(k.degraded).toBeUndefined();
    const ends = await Promise.all(good.map((g) => within(g.exited, 'a healthy agent to end', 60_000)));
    expect(ends.map((e) => e.status)).toEqual(good.map(() => 0));
    expect(good.map((g) => g.out.text)).toEqual(good.map((_, n) => `healthy ${n} ${n}\n`));
    // The quarantined host ends once its own agents have; a fresh one takes new spawns.
    await until(() => hostEvents(log).some((d) => d.endsWith('drained and ended')), () => `the quarantined host to end: ${hostEvents(log).join('; ')}`);
    expect(hostEvents(log).some((d) => /quarantined: .*catastrophic out-of-memory/.test(d))).toBe(true);
    // The spare took the quarantined host's place at once; a new spare was started.
    expect(k.hosts?.info().map((h) => h.state)).toEqual(['ready', 'ready', 'spare']);
    expect(hostEvents(log).some((d) => /takes agents: it was a spare/.test(d))).toBe(true);
    const after = await start(k, 'after.ts', "console.log('after');");
    expect(await within(after.exited, 'a new agent to end')).toMatchObject({ status: 0 });
    expect(after.out.text).toBe('after\n');
  }, 120_000);

  it('kill -9 of a host mid-run: its agents are lost (recorded, status 132), the other host\'s run on, a fresh host is started', async () => {
    const { kernel: k, log } = make(2, 2);
    const sleepers = await Promise.all(Array.from({ length: 4 }, (_, n) => start(k, `s-${n}.ts`, `console.log('up ${n}'); await new Promise((r) => setTimeout(r, 1500)); console.log('done ${n}');`, `s-${n}`)));
    await until(() => sleepers.every((s) => s.out.text.startsWith('up')), 'every agent to start');
    const [victim] = k.hosts!.info();
    expect(victim!.agents).toBe(2);
    process.kill(victim!.pid!, 'SIGKILL');
    const ends = await Promise.all(sleepers.map((s) => within(s.exited, 'an agent to end', 30_000)));
    const lost = ends.filter((e) => e.reason.kind === 'signal' && e.reason.why.startsWith('lost: sandbox host'));
    const finished = ends.filter((e) => e.status === 0);
    expect([lost.length, finished.length]).toEqual([2, 2]);
    expect(lost.every((e) => e.status === KILLED)).toBe(true);
    expect(hostEvents(log).some((d) => new RegExp(`sandbox host ${victim!.id} \\(pid ${victim!.pid}\\) killed by SIGKILL: 2 agents lost`).test(d))).toBe(true);
    const exits = log.list().filter((r) => r.type === 'exit' && lost.some((e) => e.pid === r.pid));
    expect(exits).toHaveLength(2);
    await until(() => k.hosts!.info().filter((h) => h.state === 'ready').length === 2, 'a fresh host to be ready');
    expect(k.degraded).toBeUndefined();
  }, 60_000);

  it('a host that stops answering is killed and replaced; its agents are lost', async () => {
    const { kernel: k, log } = make(1, 8, 1500);
    const a = await start(k, 'a.ts', "console.log('up'); await new Promise((r) => setTimeout(r, 60_000));");
    await until(() => a.out.text === 'up\n', 'the agent to start');
    const [host] = k.hosts!.info();
    process.kill(host!.pid!, 'SIGSTOP');
    const end = await within(a.exited, 'the agent on the hung host to end', 20_000);
    expect(end).toMatchObject({ status: KILLED, reason: { kind: 'signal', signal: 'SIGKILL' } });
    expect(hostEvents(log).some((d) => /stopped answering for 1500 ms: killed/.test(d))).toBe(true);
    await until(() => k.hosts!.info().some((h) => h.state === 'ready' && h.id !== host!.id), 'a fresh host');
  }, 60_000);

  it('signals reach agents on hosts: SIGKILL mid-loop, a handled SIGTERM, SIGSTOP and SIGCONT; SYS_CANCEL cancels a timer', async () => {
    const { kernel: k } = make(1);
    const loop = await start(k, 'loop.ts', "console.log('looping'); for (;;) {}");
    await until(() => loop.out.text === 'looping\n', 'the loop to start');
    k.kill(loop.pid, 'SIGKILL');
    expect(await within(loop.exited, 'the loop to end')).toMatchObject({ status: KILLED });

    const handler = await start(k, 'term.ts', "sys.signal.on('SIGTERM', () => { console.log('term'); process.exit(7); }); console.log('ready'); await new Promise(() => {});");
    await until(() => handler.out.text === 'ready\n', 'the handler to be installed');
    k.kill(handler.pid, 'SIGTERM');
    expect(await within(handler.exited, 'the handler to end it')).toMatchObject({ status: 7 });
    expect(handler.out.text).toBe('ready\nterm\n');

    const ticker = await start(k, 'tick.ts', "for (let i = 0; i < 40; i++) { sys.sleep(5); console.log('t', i); }");
    await until(() => ticker.out.text.includes('t 2\n'), 'ticks');
    expect(k.kill(ticker.pid, 'SIGSTOP')).toBe('stopped');
    const held = ticker.out.text;
    const twin = await start(k, 'twin.ts', "sys.sleep(50); console.log('twin');");
    await within(twin.exited, 'a twin agent to run while the ticker is stopped');
    expect(ticker.out.text.length - held.length).toBeLessThanOrEqual('t 40\n'.length);
    k.kill(ticker.pid, 'SIGCONT');
    expect(await within(ticker.exited, 'the ticker to finish')).toMatchObject({ status: 0 });

    const cancel = await start(k, 'cancel.ts', "const ac = new AbortController(); const t = sys.async.sleep(60_000, { signal: ac.signal }).then(() => 'done', (e) => e.name); ac.abort(); console.log(await t);");
    expect(await within(cancel.exited, 'the canceled timer to end the agent')).toMatchObject({ status: 0 });
    expect(cancel.out.text).toBe('AbortError\n');
  }, 60_000);

  it('CPU and memory limits hold for agents on hosts', async () => {
    const { kernel: k } = make(1);
    const spin = await k.spawnAsync(programFromSource('spin.ts', 'for (;;) {}'), { limits: { cpuMs: 200 } });
    const spun = await within(k.wait(spin.pid), 'the CPU limit to end the loop', 30_000);
    expect(spun).toMatchObject({ status: KILLED, reason: { kind: 'signal', signal: 'SIGKILL' } });
    const grow = await k.spawnAsync(programFromSource('grow.ts', "const a = []; for (;;) a.push('x'.repeat(1024) + a.length);"), { memoryLimitMib: 16 });
    expect(await within(k.wait(grow.pid), 'the memory limit to end it', 30_000)).toMatchObject({ status: KILLED });
    expect(k.degraded).toBeUndefined();
  }, 60_000);

  it('a full set of hosts refuses a spawn with EAGAIN; a recorded run is refused on hosts', async () => {
    const { kernel: k } = make(1, 1);
    const a = await start(k, 'a.ts', 'await new Promise((r) => setTimeout(r, 500));');
    await expect(k.spawnAsync(programFromSource('b.ts', ''))).rejects.toMatchObject({ errno: 'EAGAIN' });
    expect(() => k.spawn(programFromSource('c.ts', ''))).toThrow(/spawn with spawnAsync|runs 1 agents/);
    await within(a.exited, 'the first agent to end');
  });
});

describe('what a host sends is checked before the kernel acts on it', () => {
  it('isToKernel takes well-formed messages and refuses everything else', async () => {
    const { isToKernel } = await import('../../kernel/hosts/protocol.ts');
    const good = [
      { t: 'ready', pid: 10 },
      { t: 'call', sid: 1, cid: 2, nr: 8, args: [], mode: 'blocking' },
      { t: 'end', sid: 1, cpuNs: 5, how: { kind: 'returned', status: 0 } },
      { t: 'end', sid: 1, cpuNs: 5, how: { kind: 'catastrophic', message: 'x' } },
      { t: 'answer', sid: 1, req: 3, ok: false, errno: 'ENOEXEC', message: 'bad' },
      { t: 'cpu', sids: [1, 2], ns: [10, 20] },
    ];
    const bad = [
      null, 'ready', 42, [], { t: 'nope' }, { t: 'ready', pid: -1 }, { t: 'call', sid: 1, cid: 2, nr: 8, args: 'x', mode: 'blocking' },
      { t: 'call', sid: 1.5, cid: 2, nr: 8, args: [], mode: 'async' }, { t: 'end', sid: 1, cpuNs: 5, how: { kind: 'returned', status: 300 } },
      { t: 'end', sid: 1, cpuNs: 5, how: { kind: 'exploded' } }, { t: 'charge', sid: 1, ns: -5 }, { t: 'cpu', sids: [1], ns: [] },
      { t: 'answer', sid: 1, req: 3, ok: true, value: { evil: 1 } }, { t: 'idle', sid: 1, cpuNs: Number.NaN },
    ];
    expect(good.map(isToKernel)).toEqual(good.map(() => true));
    expect(bad.map(isToKernel)).toEqual(bad.map(() => false));
  });
});

describe('a call a host forwards', () => {
  it('leaves no listener on its process\'s lifetime once answered (one per call was left: a long-running agent grew its host and slowed each call)', async () => {
    const { pendingCall } = await import('../../kernel/hosts/pending-call.ts');
    const { EventEmitter } = await import('node:events');
    const lifetime = new AbortController();
    for (let i = 0; i < 1000; i++) {
      let settle: ((reply: { v: number }) => void) | undefined;
      const reply = pendingCall(lifetime.signal, () => undefined, (s) => void (settle = s));
      settle!({ v: i });
      expect(await reply).toEqual({ v: i });
    }
    expect(EventEmitter.getEventListeners(lifetime.signal, 'abort')).toHaveLength(0);
    // One still waiting when the process ends is told.
    let aborted = 0;
    void pendingCall(lifetime.signal, () => void aborted++, () => undefined);
    lifetime.abort();
    expect(aborted).toBe(1);
  });
});

describe('the channel reads frames a host cannot use to end the kernel', () => {
  it('decodes whole frames however the bytes arrive, and stops at the first frame too large or that does not decode', async () => {
    const { encode, FrameReader, MAX_FRAME_BYTES } = await import('../../kernel/hosts/frames.ts');
    const got: unknown[] = [];
    const errors: string[] = [];
    const reader = new FrameReader((m) => got.push(m), (why) => errors.push(why));
    const bytes = Buffer.concat([encode({ t: 'pong', n: 1 }), encode({ t: 'call', sid: 1, cid: 1, nr: 1, args: [new Uint8Array([1, 2, 3])], mode: 'blocking' })]);
    for (let i = 0; i < bytes.length; i += 3) reader.push(bytes.subarray(i, i + 3));
    expect(got).toEqual([{ t: 'pong', n: 1 }, { t: 'call', sid: 1, cid: 1, nr: 1, args: [new Uint8Array([1, 2, 3])], mode: 'blocking' }]);
    expect(errors).toEqual([]);

    const garbage = Buffer.from([0, 0, 0, 4, 0xff, 0x0d, 0x22, 0x99]);
    const bad = new FrameReader((m) => got.push(m), (why) => errors.push(why));
    bad.push(garbage);
    bad.push(encode({ t: 'pong', n: 2 }));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^a frame does not decode/);
    expect(got).toHaveLength(2);

    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
    const tooBig = new FrameReader(() => undefined, (why) => errors.push(why));
    tooBig.push(huge);
    expect(errors[1]).toBe(`a frame of ${MAX_FRAME_BYTES + 1} bytes is over ${MAX_FRAME_BYTES}`);
    expect(() => encode({ f: () => 1 })).toThrow();
  });
});
