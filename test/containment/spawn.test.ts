/**
 * SYS_SPAWN and programs (found against main: a TypeScript file whose type
 * stripping failed on its last line froze the kernel while the error line was
 * searched; SYS_SPAWN read programs through every mount without the vfs
 * capability SYS_OPEN needs; registered programs lived in a plain object, so
 * spawning `__proto__` made a process with no program and crashed `ps`).
 */
import { describe, expect, it } from 'vitest';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { MemfsBackend } from '../../vfs/memfs-backend.ts';
import { COMPILE_MS, programFromSource } from '../../kernel/program.ts';
import { kernelFor } from '../live-agents.ts';
import { until } from '../until.ts';
import { ALLOW_ALL, report, run } from '../syscalls/harness.ts';
import { testKernel } from '../helpers.ts';
import { othersStarting, startingNow } from '../../kernel/sandbox-boot.ts';
import { SIGNALS } from '../../signals/signal-table.ts';

/** enumBomb is a TypeScript enum (as JSON text) whose member n is the one before twice: 16 × 2^n characters once esbuild folds it, copied into the enum and the use. */
const enumBomb = (members: number, seed: string) => JSON.stringify(`enum E { A0 = "${seed.repeat(16)}",${Array.from({ length: members - 1 }, (_, i) => ` A${i + 1} = A${i} + A${i},`).join('')} }\nE.A${members - 1};\n`);

/** dups is a TypeScript program that declares one name `n` times (esbuild takes quadratic time on it), as JSON text. */
const dups = (n: number) => JSON.stringify('let a0: number = 1;\n'.repeat(n));

describe('a broken TypeScript program', () => {
  it('an 800-line program that fails on its last line: ENOEXEC naming that line, and the caller goes on', async () => {
    const lines = Array.from({ length: 800 }, (_, i) => `const v${i}: number = ${i};`);
    lines.push('const broken: = 1;');
    const { value } = await report(
      `sys.writeFile('mem/big.ts', ${JSON.stringify(lines.join('\n'))});
       const r = syscall(SYS.SYS_SPAWN, 'mem/big.ts', []);
       report([r.errno, r.message.split(': ')[0], sys.getpid() === sys.pid]);`,
      { kernel: kernelFor(), agentId: 'author' },
    );
    expect(value).toEqual(['ENOEXEC', '/agent/author/mem/big.ts:801:15', true]);
  });

  it("a program nested past esbuild's stack fails alone with ENOEXEC, and TypeScript spawns go on working, one compiled beside it included (found by an attacker pass: it took esbuild's one process down, and every later .ts spawn failed until a restart)", async () => {
    const kernel = kernelFor();
    const bomb = JSON.stringify(`${'-'.repeat(450_000).split('').join(' ')}1;`);
    const { value } = await report(
      `sys.writeFile('mem/bomb.ts', ${bomb});
       sys.writeFile('mem/fine.ts', 'const n: number = 6 * 7; console.log(n);');
       // The bomb and an innocent program compile side by side, then one more after.
       const both = await Promise.allSettled([sys.async.spawn('mem/bomb.ts', []), sys.async.spawn('mem/fine.ts', [])]);
       const after = sys.spawn('mem/fine.ts', []);
       report([both[0].status, both[0].reason?.errno, /esbuild's compiler process crashed/.test(both[0].reason?.message), both[1].status, sys.wait(both[1].value).status, sys.wait(after).status]);`,
      { kernel, agentId: 'bomber' },
    );
    expect(value).toEqual(['rejected', 'ENOEXEC', true, 'fulfilled', 0, 0]);
    // Another agent's TypeScript program after it compiles too.
    const other = await report("sys.writeFile('mem/t.ts', 'const s: string = \"ok\"; console.log(s);');\nreport(sys.wait(sys.spawn('mem/t.ts', [])).status);", { kernel, agentId: 'other' });
    expect(other.value).toBe(0);
  }, 30_000);

  it(`a program esbuild takes quadratic time on: its compile is the tree's CPU, stops after ${COMPILE_MS} ms with ENOEXEC, and TypeScript spawns beside it still compile (found by an attacker pass: 40,000 redeclarations compiled for 66 s, uncharged, past the agent's SIGKILL)`, async () => {
    const kernel = kernelFor();
    const { value, result } = await report(
      `sys.writeFile('mem/slow.ts', ${dups(4000)});
       sys.writeFile('mem/endless.ts', ${dups(40_000)});
       sys.writeFile('mem/fine.ts', 'const n: number = 6 * 7; console.log(n);');
       const slow = await sys.async.spawn('mem/slow.ts', []).catch((e) => e.errno);
       const [endless, fine] = await Promise.allSettled([sys.async.spawn('mem/endless.ts', []), (async () => { await sys.async.sleep(500); return sys.wait(sys.spawn('mem/fine.ts', [])).status; })()]);
       report([slow, endless.status, endless.reason?.errno, endless.reason?.message.replace(/^.*: /, ''), fine.value]);`,
      { kernel, agentId: 'slow', limits: { wallMs: 60_000 } },
    );
    expect(value).toEqual(['ENOEXEC', 'rejected', 'ENOEXEC', `it took longer than ${COMPILE_MS} ms`, 0]);
    expect(result.exit.status).toBe(0);
    // The compile's time is the tree's CPU: a tree with 1 s of CPU that has esbuild work ~3 s for it ends by its CPU limit.
    const charged = await run(`sys.writeFile('mem/slow.ts', ${dups(8000)}); await sys.async.spawn('mem/slow.ts', []).catch(() => {}); await sys.async.sleep(1000); console.log('not charged');`, { kernel, agentId: 'charged', limits: { cpuMs: 1000 } });
    expect(charged.stdout).toBe('');
    expect(charged.exit.reason).toMatchObject({ kind: 'signal', signal: 'SIGKILL', why: expect.stringMatching(/^CPU time limit 1000 ms/) });
  }, 60_000);

  it("a few hundred bytes whose enum esbuild folds into hundreds of MB fail alone (EFBIG, or ENOEXEC past the compiler's memory), and the kernel neither grows nor falls (found by an attacker pass: 374 bytes took the kernel down with ERR_STRING_TOO_LONG, 457 bytes grew it by 1.8 GB)", async () => {
    const kernel = kernelFor();
    const before = process.memoryUsage().rss;
    const { value } = await report(
      `sys.writeFile('mem/grows.ts', ${enumBomb(20, 'x')});
       sys.writeFile('mem/huge.ts', ${enumBomb(24, 'x')});
       sys.writeFile('mem/wide.ts', ${enumBomb(21, '\u0100')});
       sys.writeFile('mem/fine.ts', 'const n: number = 6 * 7; console.log(n);');
       const tried = await Promise.allSettled(['mem/grows.ts', 'mem/huge.ts', 'mem/wide.ts'].map((p) => sys.async.spawn(p, [])));
       report([...tried.map((t) => t.status === 'rejected' ? t.reason.errno : 'spawned'), sys.wait(sys.spawn('mem/fine.ts', [])).status]);`,
      { kernel, agentId: 'folder', limits: { wallMs: 60_000 } },
    );
    const [grows, huge, wide, fine] = value as string[];
    expect(grows).toBe('EFBIG');
    expect(['EFBIG', 'ENOEXEC']).toContain(huge);
    expect(['EFBIG', 'ENOEXEC']).toContain(wide);
    expect(fine).toBe(0);
    // What the compiler made never came into the kernel's process past MAX_COMPILED_BYTES (16 MiB) a compile.
    expect(process.memoryUsage().rss - before).toBeLessThan(300 * 1024 * 1024);
  }, 60_000);

  it('an agent stack trace names the author\'s TypeScript lines (through the source map)', async () => {
    const kernel = kernelFor();
    const source = "type T = { a: number };\n\n// comment\nconst t: T = { a: 1 };\n\nfunction boom(x: T): never {\n  throw new Error('boom ' + x.a);\n}\nboom(t);\n";
    const proc = kernel.spawn(programFromSource('typed.ts', source));
    const exit = await kernel.wait(proc.pid);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringMatching(/Error: boom 1\n\s+at boom \(typed\.ts:7:9\)\n\s+at main \(typed\.ts:9:1\)/) });
  });
});

/** shared is a kernel with a /shared mount holding one program, under a policy that allows everything (only capabilities stand in the way). */
const shared = () => kernelFor({ policy: ALLOW_ALL, mounts: [{ path: '/shared', backend: () => MemfsBackend.fromFiles({ '/tool.js': "console.log('ran')" }) }] });

describe('SYS_SPAWN reads a program as SYS_OPEN would', () => {

  it('without a vfs capability, a program in /shared is EACCES, recorded as a capability denial, and its existence does not show', async () => {
    const kernel = shared();
    const { value } = await report(
      `report([syscall(SYS.SYS_SPAWN, '/shared/tool.js', []).errno, syscall(SYS.SYS_SPAWN, '/shared/nope.js', []).errno]);`,
      { kernel, agentId: 'nocap' },
    );
    expect(value).toEqual(['EACCES', 'EACCES']);
    const denies = (kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'syscall' && r.syscall === 'SYS_SPAWN');
    expect(denies.map((r) => (r.type === 'syscall' ? [r.effect, r.rule, r.path] : []))).toEqual([
      ['deny', 'capability', '/shared/tool.js'],
      ['deny', 'capability', '/shared/nope.js'],
    ]);
  });

  it('with vfs:/shared:ro it runs', async () => {
    const { value, result } = await report("sys.wait(sys.spawn('/shared/tool.js')); report(0);", { kernel: shared(), manifest: { capabilities: ['vfs:/shared:ro'] } });
    expect(value).toBe(0);
    expect(result.stdout).toBe('ran\n0\n');
  });
});

describe('registered programs are looked up in a Map', () => {
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('spawning %s is ENOENT (a missing file), and ps still works', async (name) => {
    const kernel = kernelFor({ programs: { real: programFromSource('real.js', '') } });
    const { value } = await report(`report(syscall(SYS.SYS_SPAWN, ${JSON.stringify(name)}, []).errno);`, { kernel });
    expect(value).toBe('ENOENT');
    expect(() => kernel.ps()).not.toThrow();
  });
});

describe('a spawn that fails leaves no tree behind', () => {
  it('trees of spawns that failed to compile, to restore or to start age out like any other', async () => {
    const { Kernel } = await import('../../kernel/kernel.ts');
    const kernel = new Kernel({ treeRetentionMs: 0, stdout: () => undefined, stderr: () => undefined });
    try {
      for (let i = 0; i < 5; i++) {
        await expect(kernel.spawnAsync(programFromSource('bad.js', 'const x = ;'), { manifest: { id: `broken-${i}` } })).rejects.toMatchObject({ errno: 'ENOEXEC' });
        await expect(kernel.spawnAsync(programFromSource('ok.js', '1'), { manifest: { id: `restored-${i}` }, restore: '/nonexistent' })).rejects.toThrow(/not a checkpoint/);
      }
      // The trees of the failed spawns are on the retention clock (0 ms): gone at its next turn.
      await until(() => kernel.treeCount === 0, () => `the failed spawns' trees to age out (${kernel.treeCount} left)`);
      const ok = kernel.spawn(programFromSource('ok.js', '1'), { manifest: { id: 'fine' } });
      expect(kernel.treeCount).toBe(1);
      await kernel.wait(ok.pid);
    } finally {
      await kernel.shutdown();
    }
  });
});

describe('where a runtime boots (kernel/sandbox-boot.ts)', () => {
  it('a burst of spawns boots on the isolates\' threads: every program runs, one killed while booting ends by its signal, and none stays counted as starting', async () => {
    const { kernel, stdout } = testKernel();
    const program = programFromSource('burst.js', "console.log('ran ' + sys.getpid());");
    const procs = Array.from({ length: 24 }, () => kernel.spawn(program));
    // Others were starting when these spawned, so their runtimes are still booting off the loop: kill one now.
    expect(othersStarting()).toBe(true);
    expect(kernel.kill(procs[5]!.pid, 'SIGKILL')).toBe('terminated');
    const exits = await Promise.all(procs.map((p) => kernel.wait(p.pid)));
    expect(exits.map((e) => e.status)).toEqual(procs.map((_, i) => (i === 5 ? 128 + SIGNALS.SIGKILL.nr : 0)));
    expect(stdout.text.trim().split('\n').toSorted()).toEqual(procs.filter((_, i) => i !== 5).map((p) => `ran ${p.pid}`).toSorted());
    // A spawn alone then boots on the loop again (the lowest latency): nothing leaked the count.
    expect(startingNow()).toBe(0);
    const alone = kernel.spawn(program);
    expect((await kernel.wait(alone.pid)).status).toBe(0);
    await kernel.shutdown();
  });

  it('a program blocked in its synchronous part does not count as starting (found by the attacker pass: one such process sent every other spawn off the loop)', async () => {
    const { kernel } = testKernel();
    const sleeper = kernel.spawn(programFromSource('sleeper.js', 'sys.sleep(60000);'));
    await until(() => sleeper.sandbox?.blockedInSyscall === true, 'the sleeper blocks');
    expect(startingNow()).toBe(0);
    expect(kernel.kill(sleeper.pid, 'SIGKILL')).toBe('terminated');
    await kernel.wait(sleeper.pid);
    await kernel.shutdown();
  });
});
