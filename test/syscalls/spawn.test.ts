import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { IDLE, kernelFor, printed, start } from '../live-agents.ts';
import { report, run, syscallRecords } from './harness.ts';

const ECHO = "console.log(JSON.stringify({ id: sys.agentId, pid: sys.pid, args: sys.args }));";

describe('SYS_SPAWN', () => {
  it("starts a program from the caller's tree with argv; the child runs as the caller's agent and shares its stdout", async () => {
    const result = await run(`
      sys.writeFile('mem/working/echo.js', ${JSON.stringify(ECHO)});
      const pid = raw(SYS.SYS_SPAWN, 'mem/working/echo.js', ['a', 'b c']);
      const status = sys.wait(pid.v).status;
      console.log(JSON.stringify({ pid, status }));
    `, { agentId: 'boss', kernel: kernelFor() });
    expect(result.exit.status).toBe(0);
    expect(result.stdout).toBe('{"id":"boss","pid":2,"args":["a","b c"]}\n{"pid":{"v":2},"status":0}\n');
  });

  it('takes absolute paths in its own tree, and .ts programs (types stripped)', async () => {
    const result = await run(`
      sys.writeFile('mem/typed.ts', 'const n: number = 41; console.log(n + 1);');
      sys.wait(sys.spawn('/agent/boss/mem/typed.ts'));
    `, { agentId: 'boss', kernel: kernelFor() });
    expect(result.stdout).toBe('42\n');
  });

  it('starts a program the operator registered (Kernel option programs), before looking in the tree', async () => {
    const kernel = kernelFor({ programs: { echo: programFromSource('echo.js', ECHO), 'mem/shadow.js': programFromSource('registered.js', "console.log('registered');") } });
    const result = await run(`
      sys.writeFile('mem/shadow.js', "console.log('from the tree');");
      sys.wait(sys.spawn('echo', ['x']));
      sys.wait(sys.spawn('mem/shadow.js'));
    `, { kernel, agentId: 'ops' });
    expect(result.stdout).toBe('{"id":"ops","pid":2,"args":["x"]}\nregistered\n');
  });

  it("a child runs as its tree's agent: it shares its parent's files, and another agent's tree is still out of reach", async () => {
    const result = await run(`
      sys.writeFile('mem/secret', 's3cret');
      sys.writeFile('mem/peek.js', "console.log(sys.readFile('mem/secret')); sys.writeFile('mem/reply', 'ok'); try { sys.readFile('/agent/other/mem/x'); } catch (e) { console.log(e.errno); }");
      sys.wait(sys.spawn('mem/peek.js'));
      console.log(sys.readFile('mem/reply'));
    `, { agentId: 'boss', kernel: kernelFor() });
    expect(result.stdout).toBe('s3cret\nEACCES\nok\n');
  });

  it('ENOENT for a missing program, EISDIR for a directory, EACCES outside the tree', async () => {
    const { value } = await report(`report([errnoOf(() => sys.spawn('mem/nope.js')), errnoOf(() => sys.spawn('mem')), errnoOf(() => sys.spawn('/agent/other/x.js')), errnoOf(() => sys.spawn('/etc/passwd'))]);`, { kernel: kernelFor() });
    expect(value).toEqual(['ENOENT', 'EISDIR', 'EACCES', 'EACCES']);
  });

  it('ENOEXEC for JavaScript or TypeScript that does not compile, with file, line and column', async () => {
    const { value } = await report(`
      sys.writeFile('mem/bad.js', 'const = ;');
      sys.writeFile('mem/bad.ts', 'let x: = 1;');
      report(['mem/bad.js', 'mem/bad.ts'].map((p) => { const r = syscall(SYS.SYS_SPAWN, p, []); return [r.errno, r.message.split(': ')[0]]; }));
    `, { agentId: 'boss', kernel: kernelFor() });
    expect(value).toEqual([
      ['ENOEXEC', '/agent/boss/mem/bad.js:1:7'],
      ['ENOEXEC', '/agent/boss/mem/bad.ts:1:8'],
    ]);
  });

  it("EPERM for a capability the caller does not hold; a child's capabilities may be narrower", async () => {
    const kernel = kernelFor({ programs: { idle: programFromSource('idle.js', IDLE) } });
    const { value } = await report(`
      const wider = syscall(SYS.SYS_SPAWN, 'idle', [], { capabilities: ['signal:any'] });
      const tool = errnoOf(() => sys.spawn('idle', [], { capabilities: ['tool:*'] }));
      const vfsRw = errnoOf(() => sys.spawn('idle', [], { capabilities: ['vfs:/shared:rw'] }));
      const narrower = sys.spawn('idle', [], { capabilities: ['signal:children', 'vfs:/shared/sub:ro'] });
      const same = sys.spawn('idle', [], { capabilities: ['vfs:/shared:ro'] });
      for (const pid of [narrower, same]) { sys.kill(pid, 'SIGKILL'); sys.wait(pid); }
      report({ wider: [wider.errno, wider.message], tool, vfsRw, started: typeof narrower });
    `, { kernel, manifest: { capabilities: ['signal:children', 'vfs:/shared:ro'] } });
    expect(value).toEqual({ wider: ['EPERM', 'capability signal:any is not held by parent pid 1'], tool: 'EPERM', vfsRw: 'EPERM', started: 'number' });
  });

  it('EINVAL for a malformed capability, a file fd as stdio, and malformed arguments; EBADF for an fd not open', async () => {
    const kernel = kernelFor({ programs: { idle: programFromSource('idle.js', IDLE) } });
    const { value } = await report(`
      const fd = sys.open('mem/f', 'w');
      report({
        badCap: raw(SYS.SYS_SPAWN, 'idle', [], { capabilities: ['root'] }),
        fileFd: raw(SYS.SYS_SPAWN, 'idle', [], { stdout: fd }),
        closedFd: raw(SYS.SYS_SPAWN, 'idle', [], { stdin: 9 }),
        malformed: [
          raw(SYS.SYS_SPAWN),
          raw(SYS.SYS_SPAWN, 42),
          raw(SYS.SYS_SPAWN, 'idle', 'not a list'),
          raw(SYS.SYS_SPAWN, 'idle', [1]),
          raw(SYS.SYS_SPAWN, 'idle', [], { cwd: '/' }),
          raw(SYS.SYS_SPAWN, 'idle', [], { stdout: -1 }),
          raw(SYS.SYS_SPAWN, 'idle', [], { capabilities: 'signal:any' }),
          raw(SYS.SYS_SPAWN, 'idle', [], { labels: { a: 1 } }),
          raw(SYS.SYS_SPAWN, 'idle', [], [], 'extra'),
          raw(SYS.SYS_SPAWN, 'idle', [], 'options'),
        ],
      });
    `, { kernel });
    expect(value).toEqual({
      badCap: { errno: 'EINVAL' },
      fileFd: { errno: 'EINVAL' },
      closedFd: { errno: 'EBADF' },
      malformed: Array.from({ length: 10 }, () => ({ errno: 'EINVAL' })),
    });
    // The caller has been reaped; no child was left behind.
    expect(kernel.ps()).toEqual([]);
  });

  it("EAGAIN past the caller's child limit", async () => {
    const kernel = kernelFor({ programs: { idle: programFromSource('idle.js', IDLE) } });
    const { value } = await report(`
      const a = sys.spawn('idle');
      const r = raw(SYS.SYS_SPAWN, 'idle', []);
      sys.kill(a, 'SIGKILL');
      sys.wait(a);
      report(r);
    `, { kernel, limits: { children: 1 } });
    expect(value).toEqual({ errno: 'EAGAIN' });
  });

  it('EACCES under a policy with no rule for it, and nothing starts', async () => {
    const policy = parsePolicy('version: 1\nrules:\n  - id: write-only\n    effect: allow\n    syscalls: [SYS_WRITE]\n', 'write-only.yaml');
    const kernel = kernelFor({ policy, programs: { idle: programFromSource('idle.js', IDLE) } });
    const { value } = await report("report(raw(SYS.SYS_SPAWN, 'idle', []));", { kernel });
    expect(value).toEqual({ errno: 'EACCES' });
    expect(kernel.ps()).toEqual([]);
  });

  it("records the decision (own-processes) and the child's spawn", async () => {
    const kernel = kernelFor({ programs: { quick: programFromSource('quick.js', 'sys.getpid();') } });
    const { result } = await report("sys.wait(sys.spawn('quick')); report(0);", { kernel, agentId: 'p' });
    expect(syscallRecords(kernel, 'SYS_SPAWN').map((r) => [r.effect, r.rule, r.agentId])).toEqual([['allow', 'own-processes', 'p']]);
    const spawns = (kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'spawn');
    expect(spawns.map((r) => [r.pid, r.agentId, 'detail' in r ? r.detail : ''])).toEqual([
      [result.exit.pid, 'p', 'agent.js'],
      [result.exit.pid + 1, 'p', `quick.js (child of pid ${result.exit.pid}, tree of pid ${result.exit.pid})`],
    ]);
  });

  it('a spawn that fails once it has taken a pid records that the pid never started (exit, not started, and why)', async () => {
    const kernel = kernelFor();
    const { result } = await report(`
      sys.writeFile('mem/bad.js', 'const = ;');
      const failed = syscall(SYS.SYS_SPAWN, 'mem/bad.js', []);
      sys.writeFile('mem/good.js', 'sys.getpid();');
      report([failed.errno, sys.wait(sys.spawn('mem/good.js')).status]);
    `, { kernel, agentId: 'p' });
    const pid = result.exit.pid;
    const lives = (kernel.recorder as MemoryDecisionLog).list().filter((r) => (r.type === 'spawn' || r.type === 'exit') && r.pid > pid);
    expect(lives.map((r) => [r.type, r.pid, r.agentId, 'detail' in r ? (r.detail ?? '').split(': ').slice(0, 3).join(': ') : ''])).toEqual([
      ['exit', pid + 1, 'p', 'not started: ENOEXEC: /agent/p/mem/bad.js:1:7'],
      ['spawn', pid + 2, 'p', `/agent/p/mem/good.js (child of pid ${pid}, tree of pid ${pid})`],
      ['exit', pid + 2, 'p', expect.any(String)],
    ]);
  });

  it('an operator spawn that fails records the pid it took, never started', () => {
    const kernel = kernelFor();
    expect(() => kernel.spawn(programFromSource('broken.js', 'const = ;'))).toThrow(/broken\.js:1:7/);
    const records = (kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'exit');
    expect(records.map((r) => [r.pid, r.agentId, 'detail' in r ? (r.detail ?? '').slice(0, 25) : ''])).toEqual([[1, 'agent-1', 'not started: ENOEXEC: bro']]);
  });

  it("the records of a tree's failed spawns count against its log bytes (log_bytes_per_second)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spawn-records-'));
    const log = new FileDecisionLog(join(dir, 'decisions.jsonl'));
    const kernel = kernelFor({ recorder: log });
    try {
      const agent = start(kernel, `
        sys.writeFile('mem/bad.js', 'const = ;');
        for (let i = 0; i < 30; i++) syscall(SYS.SYS_SPAWN, 'mem/bad.js', []);
        console.log('done'); await new Promise(() => {});`, { agentId: 'p' });
      await printed(agent, 'done');
      // Records land on the next turn (group commit): let them.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const counted = kernel.usage(agent.proc).logBytes;
      const records = readFileSync(join(dir, 'decisions.jsonl'), 'utf8').split('\n').filter((line) => line !== '').map((line) => ({ ...(JSON.parse(line) as { type: string; pid: number; detail?: string }), bytes: Buffer.byteLength(line) + 1 }));
      // Its calls' records, and those of the pids its spawns took (not the kernel's own, pid 0, nor its own spawn).
      const made = records.filter((r) => r.pid > agent.pid || (r.pid === agent.pid && (r.type === 'syscall' || r.type === 'outcome')));
      expect(made.filter((r) => r.type === 'exit' && r.detail?.startsWith('not started: ENOEXEC')).length).toBe(30);
      expect(counted).toBeGreaterThanOrEqual(made.reduce((n, r) => n + r.bytes, 0));
    } finally {
      await kernel.shutdown();
      log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
