/**
 * Process trees: who a child is (its tree's agent, in its tree's VFS,
 * capabilities no wider than its parent's), where its program comes from (the
 * parent's tree or a program the operator registered), and what a process
 * may do to processes that are not its children (nothing: ECHILD for wait,
 * EPERM for signals unless it holds signal:any).
 */
import { describe, expect, it } from 'vitest';
import { programFromSource } from '../../kernel/program.ts';
import { exited, hostPipe, IDLE, kernelFor, printed, start } from '../live-agents.ts';
import { until } from '../until.ts';

const idleProgram = programFromSource('idle.js', IDLE);

describe('spawn and wait across a process tree', () => {
  it('children and grandchildren run as the root agent, in its VFS tree', async () => {
    const kernel = kernelFor({
      programs: {
        middle: programFromSource('middle.js', "sys.writeFile('mem/who', sys.agentId); console.log(sys.agentId); sys.wait(sys.spawn('leaf'));"),
        leaf: programFromSource('leaf.js', "console.log(sys.agentId + ' ' + JSON.stringify(sys.readdir('mem').map((e) => e.name)));"),
      },
    });
    const root = start(kernel, "console.log(sys.agentId); sys.wait(sys.spawn('middle'));", { agentId: 'root' });
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe('root\nroot\nroot ["episodic","semantic","who","working"]\n');
  });

  it('a child never gets a capability its parent lacks, even when the grandparent holds it', async () => {
    const kernel = kernelFor({
      programs: {
        middle: programFromSource('middle.js', "try { sys.spawn('idle', [], { capabilities: ['signal:any'] }); console.log('spawned'); } catch (e) { console.log(e.errno + ' ' + e.message); }"),
        idle: idleProgram,
      },
    });
    const root = start(kernel, "sys.wait(sys.spawn('middle', [], { capabilities: ['signal:children'] }));", { manifest: { capabilities: ['signal:any'] } });
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe('EPERM capability signal:any is not held by parent pid 2\n');
  });

  it('ECHILD for wait and EPERM for a signal aimed at a process that is not a child', async () => {
    const kernel = kernelFor({ programs: { idle: idleProgram } });
    const stranger = start(kernel, IDLE, { agentId: 'stranger' });
    const nosy = start(kernel, `
      const e = (fn) => { try { return fn(); } catch (x) { return x.errno; } };
      console.log(JSON.stringify({ wait: e(() => sys.wait(${stranger.pid})), kill: e(() => sys.kill(${stranger.pid}, 'SIGKILL')), stop: e(() => sys.kill(${stranger.pid}, 'SIGSTOP')) }));
    `);
    expect(await exited(nosy)).toMatchObject({ status: 0 });
    expect(JSON.parse(nosy.stdout())).toEqual({ wait: 'ECHILD', kill: 'EPERM', stop: 'EPERM' });
    expect(stranger.proc.exit).toBeUndefined();
    expect(stranger.proc.state).toBe('blocked');
  });

  it('signal:any, passed down to a child, lets that child signal its sibling', async () => {
    const kernel = kernelFor({
      programs: {
        idle: idleProgram,
        hitman: programFromSource('hitman.js', "console.log(sys.kill(Number(sys.args[0]), 'SIGTERM'));"),
      },
    });
    const root = start(kernel, `
      const target = sys.spawn('idle');
      const hit = sys.spawn('hitman', [String(target)], { capabilities: ['signal:any'] });
      sys.wait(hit);
      console.log(JSON.stringify(sys.wait(target)));
    `, { manifest: { capabilities: ['signal:any'] } });
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe(`terminated\n{"pid":${root.pid + 1},"status":133,"signal":"SIGTERM"}\n`);
  });

  it('programs come from the VFS or the registered programs; a syntax error is ENOEXEC and starts nothing', async () => {
    const kernel = kernelFor({ programs: { hello: programFromSource('hello.ts', "const who: string = 'registered'; console.log('hello from ' + who);") } });
    const root = start(kernel, `
      sys.writeFile('mem/working/mine.js', "console.log('hello from the tree');");
      sys.writeFile('mem/working/broken.js', 'function (');
      sys.wait(sys.spawn('hello'));
      sys.wait(sys.spawn('mem/working/mine.js'));
      try { sys.spawn('mem/working/broken.js'); } catch (e) { console.log(e.errno); }
    `, { agentId: 'src' });
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe('hello from registered\nhello from the tree\nENOEXEC\n');
    // The two children were reaped and the broken one never entered the table.
    expect(kernel.ps().filter((p) => p.agentId.startsWith('src.'))).toEqual([]);
  });

  it("an exited child is a zombie ('exited' in ps, with its status) until its parent waits", async () => {
    const kernel = kernelFor({ programs: { quick: programFromSource('quick.js', 'sys.exit(3);') } });
    const control = hostPipe();
    const root = start(kernel, "const c = sys.spawn('quick'); console.log('child ' + c); sys.read(0); console.log(JSON.stringify(sys.wait(c)));", { fds: { stdin: control.stdin } });
    await printed(root, 'child ');
    const childPid = root.pid + 1;
    await until(() => kernel.ps().find((p) => p.pid === childPid)?.state === 'exited', 'the child to exit');
    expect(kernel.ps().find((p) => p.pid === childPid)).toMatchObject({ state: 'exited', status: 3, ppid: root.pid });
    await control.send('go');
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe(`child ${childPid}\n{"pid":${childPid},"status":3,"signal":null}\n`);
    expect(kernel.get(childPid)).toBeUndefined();
  });

  it('a parent waits for several children in any order, each status its own', async () => {
    const kernel = kernelFor({ programs: { code: programFromSource('code.js', 'sys.exit(Number(sys.args[0]));') } });
    const root = start(kernel, `
      const pids = [7, 0, 42].map((n) => sys.spawn('code', [String(n)]));
      console.log(JSON.stringify([pids[2], pids[0], pids[1]].map((p) => sys.wait(p).status)));
    `);
    expect(await exited(root)).toMatchObject({ status: 0 });
    expect(root.stdout()).toBe('[42,7,0]\n');
  });

  it('killing a parent blocked in wait leaves the child running', async () => {
    const kernel = kernelFor({ programs: { idle: idleProgram } });
    const root = start(kernel, "const c = sys.spawn('idle'); console.log('child ' + c); sys.wait(c);");
    await printed(root, 'child ');
    const child = kernel.get(root.pid + 1)!;
    await until(() => root.proc.sandbox?.blockedInSyscall === true, 'the parent to block in wait');
    kernel.kill(root.pid, 'SIGKILL');
    expect((await exited(root)).status).toBe(132);
    await until(() => child.state === 'blocked' && child.sandbox?.idle === true, 'the orphan to be idle');
    expect(child.exit).toBeUndefined();
    expect(child.ppid).toBe(root.pid);
  });
});
