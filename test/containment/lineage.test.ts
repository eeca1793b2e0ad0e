/**
 * Lineage as identity (found against main: a child's agent id was
 * `<parent>.<pid>`, and every per-agent control was keyed to it). Each test
 * is an agent trying to shed its identity or multiply its budget through
 * children; each must fail.
 */
import { describe, expect, it } from 'vitest';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { ToolRegistry, type ToolSpec } from '../../kernel/tools/registry.ts';
import { exited, hostPipe, IDLE, idle, kernelFor, printed, readTree, start } from '../live-agents.ts';
import { until } from '../until.ts';

const BASE_RULES = `
  - { id: own-tree, effect: allow, syscalls: [SYS_OPEN, SYS_STAT, SYS_READDIR, SYS_MKDIR, SYS_UNLINK], paths: ["/agent/\${agent}/**"] }
  - { id: self, effect: allow, syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_SPAWN, SYS_WAIT, SYS_SIGNAL, SYS_PIPE] }
`;

/** A program that spawns N copies of `prog` (a registered name) and waits for them all. */
const spawnAll = (prog: string, n: number) => `const pids = []; for (let i = 0; i < ${n}; i++) { try { pids.push(sys.spawn('${prog}')); } catch (e) { console.log('spawn ' + e.errno); } } for (const p of pids) sys.wait(p);`;

/** A tool that reports tokens used, as llm.chat does. */
const TOKENS: ToolSpec = {
  name: 'test.tokens',
  description: 'uses 1,000 tokens',
  inputSchema: { type: 'object' },
  risk: 'low',
  timeoutMs: 1000,
  maxOutputBytes: 1000,
  source: 'test',
  run(_args, call) {
    call.caller.addTokens(1000);
    return { ok: true };
  },
};

function registry(...tools: ToolSpec[]): ToolRegistry {
  const r = new ToolRegistry();
  for (const t of tools) r.register(t);
  return r;
}

describe('children run as their tree\'s agent: per-agent controls hold for the whole tree', () => {
  it('max_calls: 3 stays 3 across six children (it used to become 18)', async () => {
    const policy = parsePolicy(`version: 1\nrules:${BASE_RULES}  - { id: three-stats, effect: allow, syscalls: [SYS_CHECKPOLICY], limits: { max_calls: 3 } }\n`, 'p.yaml');
    const kernel = kernelFor({ policy, programs: { ask: programFromSource('ask.js', "for (let i = 0; i < 3; i++) { const r = syscall(SYS.SYS_CHECKPOLICY, 'SYS_GETPID', []); console.log('errno' in r ? r.errno : 'ok'); }") } });
    const root = start(kernel, spawnAll('ask', 6), { agentId: 'greedy' });
    expect(await exited(root)).toMatchObject({ status: 0 });
    const answers = root.stdout().trim().split('\n');
    expect(answers.filter((a) => a === 'ok')).toHaveLength(3);
    expect(answers.filter((a) => a === 'EACCES')).toHaveLength(15);
  });

  it('token_budget: 2,000 stays 2,000 across children (it used to become 10,000)', async () => {
    const policy = parsePolicy(`version: 1\nrules:${BASE_RULES}  - { id: llm, effect: allow, syscalls: [SYS_EXEC], tools: [test.tokens], limits: { token_budget: 2000 } }\n`, 'p.yaml');
    const kernel = new Kernel({ policy, tools: registry(TOKENS), stdout: () => {}, stderr: () => {}, programs: { burn: programFromSource('burn.js', "try { sys.exec('test.tokens', {}); console.log('ok'); } catch (e) { console.log(e.errno); }") } });
    const viaChildren = start(kernel, `const pids = []; for (let i = 0; i < 5; i++) pids.push(sys.spawn('burn', [], { capabilities: ['tool:test.tokens'] })); for (const p of pids) sys.wait(p);`, { agentId: 'spender2', manifest: { capabilities: ['tool:test.tokens'] } });
    expect(await exited(viaChildren)).toMatchObject({ status: 0 });
    expect(viaChildren.stdout().trim().split('\n').toSorted()).toEqual(['EACCES', 'EACCES', 'EACCES', 'ok', 'ok']);
    expect(kernel.engine.counters.tokensUsed('spender2')).toBe(2000);
  });

  it('output_bytes: 1,000 for the tree, however many children write (it used to let 21,000 through)', async () => {
    const loud = "try { sys.write(1, 'x'.repeat(1000)); sys.appendFile('mem/log', 'ok\\n'); } catch (e) { sys.appendFile('mem/log', e.errno + '\\n'); }";
    const kernel = kernelFor({ programs: { loud: programFromSource('loud.js', loud) } });
    const root = start(kernel, spawnAll('loud', 21), { agentId: 'loud', limits: { outputBytes: 1000 } });
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe('x'.repeat(1000));
    const log = (await readTree(kernel, 'loud', 'mem/log'))!.trim().split('\n');
    expect(log.toSorted()).toEqual([...Array.from({ length: 20 }, () => 'EFBIG'), 'ok']);
  });

  it('a deny on agents: [untrusted] reaches every child (it did not reach untrusted.2)', async () => {
    const policy = parsePolicy(
      `version: 1\nrules:${BASE_RULES}  - { id: no-untrusted-writes, effect: deny, agents: [untrusted], syscalls: [SYS_OPEN], access: [write] }\n`,
      'p.yaml',
    );
    const kernel = kernelFor({ policy, programs: { writer: programFromSource('writer.js', "try { sys.writeFile('mem/x', 'y'); console.log('wrote'); } catch (e) { console.log(e.errno + ' ' + sys.agentId); }") } });
    const root = start(kernel, "sys.wait(sys.spawn('writer'));", { agentId: 'untrusted' });
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe('EACCES untrusted\n');
    const denied = (kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'syscall' && r.rule === 'no-untrusted-writes');
    expect(denied.map((r) => r.agentId)).toEqual(['untrusted']);
  });

  it('a rule can still tell a child apart: lineage: [child]', async () => {
    const policy = parsePolicy(`version: 1\nrules:${BASE_RULES}  - { id: children-read-only, effect: deny, lineage: [child], syscalls: [SYS_OPEN], access: [write] }\n`, 'p.yaml');
    const writer = "try { sys.writeFile('mem/x', 'y'); console.log('wrote'); } catch (e) { console.log(e.errno); }";
    const kernel = kernelFor({ policy, programs: { writer: programFromSource('writer.js', writer) } });
    const root = start(kernel, `${writer} sys.wait(sys.spawn('writer'));`, { agentId: 'family' });
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe('wrote\nEACCES\n');
  });

  it('children: 4 bounds the whole tree; a fork bomb gets EAGAIN (it used to reach 341 live processes)', async () => {
    const bomb = "for (let i = 0; i < 8; i++) { try { sys.spawn('bomb'); } catch (e) { console.log(e.errno); break; } } await new Promise(() => {});";
    const kernel = kernelFor({ programs: { bomb: programFromSource('bomb.js', bomb) } });
    const root = start(kernel, bomb, { agentId: 'bomber', limits: { children: 4 } });
    // Every bomb has spawned what it could and sits idle: the tree is as large as it will get.
    const bombs = () => kernel.ps().filter((p) => p.agentId === 'bomber');
    await until(
      () => root.stdout().includes('EAGAIN') && bombs().every((p) => kernel.get(p.pid)?.sandbox?.idle === true),
      () => `the bombs to settle (ps: ${JSON.stringify(bombs().map((p) => [p.pid, p.state]))}, root printed ${JSON.stringify(root.stdout())})`,
    );
    const tree = bombs();
    expect(tree).toHaveLength(5);
    expect(tree.every((p) => p.tree?.root === root.pid)).toBe(true);
    expect(root.stdout()).toContain('EAGAIN');
    await kernel.shutdown();
  });

  it('exited children that were not waited for still count: zombies cannot be used to pile up processes', async () => {
    const kernel = kernelFor({ programs: { quick: programFromSource('quick.js', '') } });
    const input = hostPipe();
    const root = start(
      kernel,
      `const a = sys.spawn('quick'); const b = sys.spawn('quick');
       console.log('spawned', a, b);
       sys.read(0);
       let third; try { sys.spawn('quick'); third = 'ok'; } catch (e) { third = e.errno; }
       sys.wait(a); sys.wait(b);
       const fourth = sys.spawn('quick'); sys.wait(fourth);
       console.log(third + ' then ok');`,
      { limits: { children: 2 }, fds: { stdin: input.stdin } },
    );
    await printed(root, 'spawned');
    const [, a, b] = root.stdout().trim().split(' ').map(Number);
    await until(() => [a, b].every((pid) => kernel.get(pid!)?.state === 'exited'), 'both children to exit, unwaited for');
    await input.send('go');
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe(`spawned ${a} ${b}\nEAGAIN then ok\n`);
  });
});

describe('orphans (found by an attacker pass: a child whose own children exited unwaited for, and then ended itself, left them counting against the tree for good)', () => {
  it('exited children whose parent has ended are reaped by the kernel when the tree needs their room: nobody else could wait for them', async () => {
    const middle = programFromSource('middle.js', "for (let i = 0; i < 6; i++) sys.spawn('quick'); await new Promise((r) => setTimeout(r, 1000));");
    const kernel = kernelFor({ programs: { quick: programFromSource('quick.js', 'sys.exit(5);'), idle: programFromSource('idle.js', IDLE), middle } });
    const root = start(
      kernel,
      `const m = sys.spawn('middle'); sys.wait(m);
       const spawned = []; for (let i = 0; i < 4; i++) { try { spawned.push(sys.spawn('idle')); } catch (e) { spawned.push(e.errno); } }
       console.log(spawned.map((p) => (typeof p === 'number' ? 'ok' : p)).join(','));
       for (const p of spawned) if (typeof p === 'number') sys.kill(p, 'SIGKILL');`,
      { limits: { children: 8 } },
    );
    expect(await exited(root)).toMatchObject({ status: 0 });
    // 6 orphans, exited: before, only 2 more could be spawned.
    expect(root.stdout()).toBe('ok,ok,ok,ok\n');
  });
});

describe('a child never outlives its parent into a tree of its own (found by the attacker pass: a SYS_SPAWN in flight when its parent was reaped made a root with no capability check)', () => {
  it('a spawn naming a parent that has ended, or been reaped, is EINTR', async () => {
    const kernel = kernelFor();
    const parent = start(kernel, '');
    await exited(parent);
    const child = programFromSource('child.js', '');
    await expect(kernel.spawnAsync(child, { ppid: parent.pid, manifest: { capabilities: ['signal:any'] } })).rejects.toMatchObject({ errno: 'EINTR' });
    await kernel.wait(parent.pid);
    await expect(kernel.spawnAsync(child, { ppid: parent.pid, manifest: { capabilities: ['signal:any'] } })).rejects.toMatchObject({ errno: 'EINTR' });
    expect(() => kernel.spawn(child, { ppid: parent.pid })).toThrow(expect.objectContaining({ errno: 'EINTR' }));
    expect(kernel.ps()).toEqual([]);
  });
});

describe("a tree's share of the kernel's time", () => {
  it('calls that cost the kernel a lot (every glob read to the match limit) are refused with EAGAIN once the tree has had its share of the second', async () => {
    const globs = Array.from({ length: 60 }, (_, i) => `  - { id: g${i}, effect: deny, syscalls: [SYS_EXEC], tools: [t], args: [{ arg: x, glob: "*a?*b?*forbidden-${i}*" }] }`).join('\n');
    const policy = parsePolicy(`version: 1\nrules:${BASE_RULES}  - { id: ask, effect: allow, syscalls: [SYS_CHECKPOLICY, SYS_TIMER] }\n${globs}\n`, 'p.yaml');
    const kernel = kernelFor({ policy });
    const hog = start(
      kernel,
      `const x = Array.from({ length: 60 }, (_, i) => 'forbidden-' + i).join(' ').padEnd(8100, 'ab');
       let ok = 0, refused = '';
       for (let i = 0; i < 100000 && !refused; i++) { const r = syscall(SYS.SYS_CHECKPOLICY, 'SYS_EXEC', { tool: 't', args: { x } }); if ('errno' in r) refused = r.errno + ' ' + r.message; else ok++; }
       // Every call is refused until the second is over, this one too: a timer waits for the next second.
       sys.sleep(0);
       console.log(ok > 0, refused);`,
      { agentId: 'hog', limits: { kernelMsPerSecond: 20 } },
    );
    expect(await exited(hog)).toMatchObject({ status: 0 });
    expect(hog.stdout()).toBe('true EAGAIN kernel time limit of 20 ms per second reached\n');
    const refusals = (kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'syscall' && r.rule === 'limit.kernel_ms_per_second');
    expect(refusals).toHaveLength(1);
  });

  it('building and freeing its children\'s isolates counts against the tree (found by the attacker pass: a spawn+wait loop held the event loop at ~90% while charged ~0.35 ms a child)', async () => {
    const kernel = kernelFor({ programs: { quick: programFromSource('quick.js', '') } });
    const looper = start(
      kernel,
      `let n = 0, refused = '';
       for (; n < 40 && !refused; n++) { try { sys.wait(sys.spawn('quick')); } catch (e) { refused = e.errno; } }
       sys.sleep(0); // waits for the next second, where printing is allowed again
       console.log(n, refused);`,
      { agentId: 'looper', limits: { kernelMsPerSecond: 20 } },
    );
    expect(await exited(looper)).toMatchObject({ status: 0 });
    // An isolate costs the loop a few ms to build and free: 20 ms of share is gone well before 40 children.
    const [n, refused] = looper.stdout().trim().split(' ');
    expect(refused).toBe('EAGAIN');
    expect(Number(n)).toBeLessThan(40);
  });
});

describe("mapping an agent's error through its source map", () => {
  // Found by an attacker pass: a 3.5 MiB TypeScript child that threw had its source map decoded on the event loop at
  // every crash (~77 ms), charged to no one, in a spawn loop. The decoding is charged to the tree now.
  it("is charged to the agent's tree", async () => {
    const kernel = kernelFor({});
    // A program whose map is large (3.8 MiB of mappings, 60-100 ms to decode here) and whose own code is one line.
    const sourceMap = JSON.stringify({ version: 3, sources: ['big.ts'], names: [], mappings: `${'AAAA,CAAC,'.repeat(400_000)};AAAA` });
    const proc = kernel.spawn({ filename: 'big.js', source: "await null;\nthrow new Error('boom');", sourceMap }, { agentId: 'mapped' });
    const exit = await kernel.wait(proc.pid);
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error' });
    // The decoding is tens of ms of CPU (60-100 here); the isolate's build and boot, charged before too, about 6.
    expect(proc.lineage.kernelNs / 1e6).toBeGreaterThan(25);
    await kernel.shutdown();
  });
});

describe('the kernel-wide process cap', () => {
  it('past maxProcesses a spawn gets EAGAIN, from the API and from SYS_SPAWN alike', async () => {
    const kernel = kernelFor({ maxProcesses: 3, programs: { idle: programFromSource('idle.js', IDLE) } });
    start(kernel, IDLE);
    const parent = start(kernel, "try { sys.spawn('idle'); console.log('one'); sys.spawn('idle'); } catch (e) { console.log(e.errno); } await new Promise(() => {});");
    await idle(parent);
    expect(parent.stdout()).toBe('one\nEAGAIN\n');
    expect(() => kernel.spawn(programFromSource('x.js', ''))).toThrow(expect.objectContaining({ errno: 'EAGAIN' }));
    expect(kernel.ps()).toHaveLength(3);
    await kernel.shutdown();
  });
});
