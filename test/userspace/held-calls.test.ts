/**
 * What the kernel holds for one process's asynchronous calls: the calls that
 * bring data back run MAX_DATA_CALLS at a time, the rest wait in ring 3 out
 * of the agent's reach; writes waiting for room in pipes are bounded; calls
 * held back keep their order on an fd.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { AsyncCalls, LOOP, MAX_DATA_CALLS, REF } from '../../kernel/async-calls.ts';
import { SYSCALL_NUMBERS } from '../../syscalls/table.ts';
import { MAX_BLOCKED_WRITE_BYTES, WAITING_WRITE_BYTES } from '../../kernel/fd-entries.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { runAgent } from '../helpers.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * countingKernel is a kernel that allows everything with one tool, `name`, which answers `answer` after `delayMs`;
 * most() is how many of its calls ran at once, at most.
 */
function countingKernel(name: string, answer: string, maxOutputBytes: number, delayMs: number): { kernel: Kernel; most: () => number } {
  let running = 0;
  let most = 0;
  const tools = new ToolRegistry();
  tools.register({
    name,
    description: 'answers later',
    inputSchema: { type: 'object' },
    risk: 'low',
    timeoutMs: 30_000,
    maxOutputBytes,
    source: 'test',
    run: () => {
      most = Math.max(most, ++running);
      return new Promise((resolve) => setTimeout(() => (running--, resolve(answer)), delayMs));
    },
  });
  const kernel = new Kernel({ tools, policy: parsePolicy('version: 1\nrules:\n  - { id: all, effect: allow }\n', 'all.yaml'), stdout: () => {}, stderr: () => {}, limits: { syscallsPerSecond: 1e9, kernelMsPerSecond: 1e9 } });
  return { kernel, most: () => most };
}

describe('what the kernel holds for one process', () => {
  // Found in the last read of the change: 1,000 asynchronous tool calls of 900 KB each, issued without yielding, grew
  // the kernel by 2.7 GB. Calls that bring data back now run MAX_DATA_CALLS at a time; the rest wait in the runtime.
  it(`1,000 tool calls issued at once all complete, at most ${MAX_DATA_CALLS} of them running in the kernel at a time`, async () => {
    const { kernel, most } = countingKernel('big', 'x'.repeat(900_000), 1 << 20, 2);
    const { exit, stdout } = await runAgent(
      "const all = []; for (let i = 0; i < 1000; i++) all.push(sys.async.exec('big', {}).then((r) => r.bytes)); const sizes = await Promise.all(all); console.log(sizes.length, new Set(sizes).size);",
      { kernel, manifest: { capabilities: ['tool:*'] }, memoryLimitMib: 128 },
    );
    expect(exit.status).toBe(0);
    expect(stdout).toBe('1000 1\n');
    expect(most()).toBeLessThanOrEqual(MAX_DATA_CALLS);
    await kernel.shutdown();
  }, 60_000);

  // Found by an attacker pass: a redefined Array.prototype.push caught the record of a call held back in ring 3, whose
  // arguments the agent then swapped for a million objects (copied on the kernel's thread, uncharged: pauses of 200 ms
  // and more) and whose flag it set to the event loop's, which took the call past MAX_DATA_CALLS.
  it("a call held back in ring 3 is out of the agent's reach: redefined array methods and prototype setters catch nothing, and no more than MAX_DATA_CALLS run", async () => {
    const { kernel, most } = countingKernel('slow', 'ok', 1024, 5);
    try {
      const { exit, stdout } = await runAgent(
        [
          'const caught = [];',
          'const keep = (xs) => { for (const x of xs) if (x !== null && typeof x === "object" && ("wire" in x || "handle" in x)) caught[caught.length] = x; };',
          'for (const name of ["push", "unshift", "splice", "concat", "indexOf", "shift"]) { const original = Array.prototype[name]; Array.prototype[name] = function (...xs) { keep(xs); keep([this]); return Reflect.apply(original, this, xs); }; }',
          'for (const key of ["wire", "handle", "next", "prev", "entry"]) Object.defineProperty(Object.prototype, key, { set(v) { keep([this, v]); Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true }); }, get() { return undefined; }, configurable: true });',
          "const calls = []; for (let i = 0; i < 80; i++) calls[i] = sys.async.exec('slow', {});",
          'for (const e of caught) if (Array.isArray(e.wire)) { e.wire[0] = 3; e.wire[2] = Array.from({ length: 100000 }, () => ({})); }',
          'const answers = await Promise.all(calls);',
          "console.log(caught.length, answers.filter((a) => a.output === 'ok').length);",
        ].join('\n'),
        { kernel, manifest: { capabilities: ['tool:*'] } },
      );
      expect({ status: exit.status, stdout }).toEqual({ status: 0, stdout: '0 80\n' });
      expect(most()).toBeLessThanOrEqual(MAX_DATA_CALLS);
    } finally {
      await kernel.shutdown();
    }
  }, 60_000);

  it('the kernel takes the event loop flag from ring 3 only on its timer and cancels: a read or tool call that claims it is counted as any data call', () => {
    const calls = new AsyncCalls(async () => {}, () => {});
    const never = new Promise<never>(() => {});
    for (let i = 0; i < MAX_DATA_CALLS; i++) {
      expect(calls.refusal(REF | LOOP, SYSCALL_NUMBERS.SYS_READ)).toBeUndefined();
      calls.add(REF | LOOP, SYSCALL_NUMBERS.SYS_READ, new AbortController(), never);
    }
    expect(calls.refusal(REF | LOOP, SYSCALL_NUMBERS.SYS_READ)).toMatchObject({ t: 'busy' });
    expect(calls.refusal(REF | LOOP, SYSCALL_NUMBERS.SYS_EXEC)).toMatchObject({ t: 'busy' });
    // The event loop's own calls still have their slots.
    expect(calls.refusal(LOOP, SYSCALL_NUMBERS.SYS_TIMER)).toBeUndefined();
    expect(calls.refusal(LOOP, SYSCALL_NUMBERS.SYS_CANCEL)).toBeUndefined();
  });

  // Found by an attacker pass: 1,000 asynchronous writes of 1 MiB to a pipe nobody read each left its copy in the kernel
  // until the pipe took it (agentd grew by 2 GB; four children, past 6 GB). A first fix that held writes back in the
  // runtime deadlocked programs (writes to one pipe held back everything else); the bound is now the pipe's EAGAIN.
  it(`writes waiting for room in pipes hold at most ${MAX_BLOCKED_WRITE_BYTES >> 20} MiB of one process in the kernel: past it a write that would wait is EAGAIN, nothing written; other pipes and calls go on`, async () => {
    const kernel = new Kernel({ stdout: () => {}, stderr: () => {}, limits: { syscallsPerSecond: 1e9, kernelMsPerSecond: 1e9 } });
    let heldMiB = Number.POSITIVE_INFINITY;
    let out = '';
    // What the kernel holds, garbage collected first: the copies of refused writes are garbage, not held. Their memory
    // is given back some time after they are collected (isolated-vm frees copies on its own thread): the least of a few
    // readings while the 16 writes wait is what the kernel holds (one reading read 41–97 MiB now and then, under load).
    gc();
    const before = process.memoryUsage().arrayBuffers;
    const heldNow = () => {
      gc();
      heldMiB = Math.min(heldMiB, (process.memoryUsage().arrayBuffers - before) / 2 ** 20);
    };
    const readings = () => {
      for (let i = 0; i < 10; i++) setTimeout(heldNow, i * 25);
    };
    const proc = kernel.spawn(
      programFromSource(
        'pipe-writes.js',
        `const [r, w] = sys.pipe();
        const outcomes = [];
        for (let i = 0; i < 64; i++) outcomes.push(sys.async.write(w, new Uint8Array(1 << 20).fill(i)).then(() => 'ok', (e) => e.errno));
        // Another pipe, a stat and a timer are not held back by the writes waiting on the first.
        const [r2, w2] = sys.pipe();
        await sys.async.write(w2, new Uint8Array([7]));
        const other = (await sys.async.read(r2, 10))[0];
        await sys.async.stat('.');
        // The last 48 are refused at once: once their refusals are in, what the kernel holds is the 16 that wait.
        // (A fixed 50 ms here measured while refusals were still on their way when the machine was busy: 97 MiB.)
        await Promise.all(outcomes.slice(16));
        console.log('waiting');
        // The writes wait while the kernel takes its readings.
        await new Promise((resolve) => setTimeout(resolve, 400));
        let total = 0, inOrder = true;
        while (total < 16 << 20) { const chunk = await sys.async.read(r, 65536); total += chunk.length; if (chunk[0] !== Math.floor((total - 1) / (1 << 20))) inOrder = false; }
        const done = await Promise.all(outcomes);
        console.log(done.filter((o) => o === 'ok').length, done.filter((o) => o === 'EAGAIN').length, total, inOrder, other);`,
      ),
      { stdout: (chunk) => void (new TextDecoder().decode(chunk).startsWith('waiting') ? readings() : (out += new TextDecoder().decode(chunk))), memoryLimitMib: 128 },
    );
    const exit = await kernel.wait(proc.pid);
    expect(exit.status).toBe(0);
    expect(out).toBe(`16 48 ${16 << 20} true 7\n`);
    // 64 MiB before; 16 copies now.
    expect(heldMiB).toBeGreaterThanOrEqual(0);
    expect(heldMiB).toBeLessThan(40);
    await kernel.shutdown();
  }, 60_000);

  // Found by an attacker pass: a waiting write holds ~4 KiB of the kernel besides its bytes; counted by its bytes, a
  // tree's 65,000 waiting 1-byte writes held ~260 MiB. Each now counts WAITING_WRITE_BYTES at the least.
  it(`tiny writes waiting in a full pipe count ${WAITING_WRITE_BYTES} bytes each: 5 processes' 5,000 one-byte writes are refused past ${MAX_BLOCKED_WRITE_BYTES / WAITING_WRITE_BYTES}`, async () => {
    const child = [
      "const one = new Uint8Array([120]); let refused = 0;",
      "for (let i = 0; i < 1000; i++) sys.async.write(1, one).catch((e) => { if (e.errno === 'EAGAIN') refused++; });",
      "await new Promise((r) => setTimeout(r, 300));",
      "sys.write(2, new TextEncoder().encode(String(refused) + ' '));",
      'sys.exit(0);',
    ].join('\n');
    const { exit, stdout } = await runAgent(
      [
        `sys.writeFile('tiny.mjs', ${JSON.stringify(child)});`,
        'const [r, w] = sys.pipe(); const [er, ew] = sys.pipe();',
        // Full, and nobody reads it while the children write.
        "sys.write(w, new Uint8Array(65536));",
        "const kids = []; for (let i = 0; i < 5; i++) kids.push(sys.spawn('tiny.mjs', [], { stdout: w, stderr: ew }));",
        'for (const k of kids) sys.wait(k); sys.close(ew);',
        "let text = ''; for (;;) { const b = sys.read(er, 100); if (b.length === 0) break; text += new TextDecoder().decode(b); }",
        "console.log(text.trim().split(' ').map(Number).reduce((a, b) => a + b, 0));",
      ].join('\n'),
      { kernel: new Kernel({ stdout: () => {}, stderr: () => {}, limits: { syscallsPerSecond: 1e9, kernelMsPerSecond: 1e9 } }) },
    );
    expect(exit.status).toBe(0);
    expect(Number(stdout.trim())).toBeGreaterThanOrEqual(5000 - MAX_BLOCKED_WRITE_BYTES / WAITING_WRITE_BYTES);
  }, 60_000);

  // Found while bounding them: the runtime issues held-back calls from within the delivery of a batch, before the kernel
  // has retired that batch; when it was the last one, they found no room and no completion was left to come.
  it(`calls held back behind ${MAX_DATA_CALLS} tool calls that all finish together still go out`, async () => {
    const tools = new ToolRegistry();
    const { promise: together, resolve: release } = Promise.withResolvers<void>();
    let started = 0;
    tools.register({
      name: 'together',
      description: 'answers when released',
      inputSchema: { type: 'object' },
      risk: 'low',
      timeoutMs: 30_000,
      maxOutputBytes: 1024,
      source: 'test',
      run: async () => {
        if (++started === MAX_DATA_CALLS) setTimeout(release, 20);
        await together;
        return 'ok';
      },
    });
    const kernel = new Kernel({ tools, policy: parsePolicy('version: 1\nrules:\n  - { id: all, effect: allow }\n', 'all.yaml'), stdout: () => {}, stderr: () => {} });
    const { exit, stdout } = await runAgent(
      `const all = []; for (let i = 0; i < ${MAX_DATA_CALLS + 4}; i++) all.push(sys.async.exec('together', {})); console.log((await Promise.all(all)).length);`,
      { kernel, manifest: { capabilities: ['tool:*'] } },
    );
    expect(exit.status).toBe(0);
    expect(stdout).toBe(`${MAX_DATA_CALLS + 4}\n`);
    await kernel.shutdown();
  }, 30_000);

  // Found by the attacker pass over pipelined completions: with the room held by slow tool calls, the empty batch that
  // tells the runtime to try again was answered 'busy' and sent again, and again — 789,029 of them in a second.
  it('a timer completing while held-back calls wait behind slow tool calls does not spin the isolate', async () => {
    const tools = new ToolRegistry();
    tools.register({
      name: 'slow',
      description: 'answers after 600 ms',
      inputSchema: { type: 'object' },
      risk: 'low',
      timeoutMs: 30_000,
      maxOutputBytes: 1024,
      source: 'test',
      run: () => new Promise((resolve) => setTimeout(() => resolve('ok'), 600)),
    });
    const kernel = new Kernel({ tools, policy: parsePolicy('version: 1\nrules:\n  - { id: all, effect: allow }\n', 'all.yaml'), stdout: () => {}, stderr: () => {} });
    const { exit, stdout } = await runAgent(
      `const all = []; for (let i = 0; i < ${MAX_DATA_CALLS + 2}; i++) all.push(sys.async.exec('slow', {})); for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 20)); console.log((await Promise.all(all)).length);`,
      { kernel, manifest: { capabilities: ['tool:*'] } },
    );
    expect(exit.status).toBe(0);
    expect(stdout).toBe(`${MAX_DATA_CALLS + 2}\n`);
    // 1.2 s waited: here the agent's isolate used 6 ms of CPU, and 87 ms while it was nudged again and again.
    expect(exit.cpuMs).toBeLessThan(40);
    await kernel.shutdown();
  }, 30_000);

  // Found by a review: every call waited behind calls held back in ring 3, so a close (or any call) awaited while
  // MAX_DATA_CALLS + 4 reads waited on an empty pipe never went, and the program that would fill the pipe next never ended.
  it(`with ${MAX_DATA_CALLS + 4} reads waiting on an empty pipe, other calls still go; the reads get the bytes in the order they were made`, async () => {
    const { exit, stdout } = await runAgent(
      [
        'const [r, w] = sys.pipe(); const [, other] = sys.pipe();',
        `const reads = []; for (let i = 0; i < ${MAX_DATA_CALLS + 4}; i++) reads.push(sys.async.read(r, 1));`,
        'await sys.async.close(other);',
        `const letters = Array.from({ length: ${MAX_DATA_CALLS + 4} }, (_, i) => String.fromCharCode(97 + i)).join('');`,
        'sys.write(w, new TextEncoder().encode(letters)); sys.close(w);',
        "console.log((await Promise.all(reads)).map((b) => new TextDecoder().decode(b)).join('') === letters);",
      ].join('\n'),
    );
    expect({ status: exit.status, stdout }).toEqual({ status: 0, stdout: 'true\n' });
  }, 30_000);

  // Found by a review of the change above: a call waiting only behind a read held back in ring 3 waited for good once that
  // read was aborted; a spawn overtook calls on the fd it passed as stdin; and agent code run in the middle of issuing
  // held-back calls (a signal handler aborting the next one) had that aborted read issued anyway, its bytes lost.
  it('aborting a held-back read lets the calls behind it go', async () => {
    const { exit, stdout } = await runAgent(
      [
        'const [a] = sys.pipe(); const [r] = sys.pipe();',
        `for (let i = 0; i < ${MAX_DATA_CALLS}; i++) sys.async.read(a, 1).catch(() => {});`,
        'const ac = new AbortController();',
        "const held = sys.async.read(r, 1, { signal: ac.signal }).catch((e) => 'aborted: ' + e);",
        'const closed = sys.async.close(r);',
        "ac.abort('stop'); console.log(await held); await closed; console.log('closed');",
        'process.exit(0);',
      ].join('\n'),
    );
    expect({ status: exit.status, stdout }).toEqual({ status: 0, stdout: 'aborted: stop\nclosed\n' });
  }, 30_000);

  it("a spawn does not overtake held-back calls on the fds it passes: made after a close of its stdin, it fails EBADF", async () => {
    const { exit, stdout } = await runAgent(
      [
        "sys.writeFile('child.mjs', 'sys.read(0, 10);');",
        'const [a, aw] = sys.pipe(); const [r, w] = sys.pipe();',
        `const reads = []; for (let i = 0; i < ${MAX_DATA_CALLS}; i++) reads.push(sys.async.read(a, 1));`,
        "const got = sys.async.read(r, 1).then((b) => new TextDecoder().decode(b), (e) => e.errno);",
        'const closed = sys.async.close(r);',
        "const child = sys.async.spawn('child.mjs', [], { stdin: r }).then((pid) => 'spawned', (e) => e.errno);",
        `sys.write(w, new TextEncoder().encode('hello')); sys.write(aw, new TextEncoder().encode('x'.repeat(${MAX_DATA_CALLS})));`,
        'await Promise.all(reads); await closed;',
        'console.log(await got, await child);',
      ].join('\n'),
    );
    expect({ status: exit.status, stdout }).toEqual({ status: 0, stdout: 'h EBADF\n' });
  }, 30_000);

  it("a signal handler that aborts a held-back read while held-back calls are issued: the read is not issued, and no byte is lost", async () => {
    const child = [
      'const ac = new AbortController();',
      "sys.signal.on('SIGUSR1', () => ac.abort('SIGUSR1'));",
      'const [r2, w2] = sys.pipe(); const [r3, w3] = sys.pipe();',
      `const reads = []; for (let i = 0; i < ${MAX_DATA_CALLS}; i++) reads.push(sys.async.read(0, 1));`,
      'sys.async.read(r2, 1).catch(() => {}); sys.async.close(r2).catch(() => {});',
      "const y = sys.async.read(r3, 1, { signal: ac.signal }).then(() => 'Y got a byte', (e) => 'Y rejected: ' + e);",
      // Busy while the parent's bytes and SIGUSR1 arrive: the completions and the signal come in one delivery.
      "sys.write(1, new TextEncoder().encode('ready\\n')); const t = Date.now(); while (Date.now() - t < 1000);",
      'await Promise.all(reads); console.log(await y);',
      "sys.write(w3, new TextEncoder().encode('Q')); sys.close(w2);",
      "console.log(await sys.async.read(r3, 1, { signal: AbortSignal.timeout(2000) }).then((b) => 'Z got ' + new TextDecoder().decode(b), (e) => 'Z: ' + e.name));",
    ].join('\n');
    const { exit, stdout } = await runAgent(
      [
        `sys.writeFile('child.mjs', ${JSON.stringify(child)});`,
        'const [pr, pw] = sys.pipe(); const [or, ow] = sys.pipe();',
        "const pid = sys.spawn('child.mjs', [], { stdin: pr, stdout: ow }); sys.close(ow);",
        'await sys.async.read(or, 6);',
        `sys.write(pw, new TextEncoder().encode('x'.repeat(${MAX_DATA_CALLS}))); sys.kill(pid, 'SIGUSR1');`,
        "let out = ''; for (;;) { const b = await sys.async.read(or, 100); if (b.length === 0) break; out += new TextDecoder().decode(b); }",
        "console.log(out.trim(), '|', (await sys.async.wait(pid)).status);",
      ].join('\n'),
    );
    expect({ status: exit.status, stdout }).toEqual({ status: 0, stdout: 'Y rejected: SIGUSR1\nZ got Q | 0\n' });
  }, 30_000);

  it('a call on an fd still waits behind a read on that fd held back in ring 3: a close does not overtake the reads made before it', async () => {
    const { exit, stdout } = await runAgent(
      [
        'const [r, w] = sys.pipe();',
        `const reads = []; for (let i = 0; i < ${MAX_DATA_CALLS + 2}; i++) reads.push(sys.async.read(r, 1));`,
        'const closed = sys.async.close(r);',
        `sys.write(w, new TextEncoder().encode('x'.repeat(${MAX_DATA_CALLS + 2})));`,
        "const got = await Promise.allSettled(reads); await closed;",
        "console.log(got.map((g) => (g.status === 'fulfilled' ? g.value.length : g.reason.errno)).join(','));",
      ].join('\n'),
    );
    expect({ status: exit.status, stdout }).toEqual({ status: 0, stdout: `${Array(MAX_DATA_CALLS + 2).fill(1).join(',')}\n` });
  }, 30_000);
});
