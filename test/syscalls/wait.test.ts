import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { exited, hostPipe, IDLE, kernelFor, parked, printed, start } from '../live-agents.ts';
import { report, syscallRecords } from './harness.ts';

const PROGRAMS = {
  idle: programFromSource('idle.js', IDLE),
  exit5: programFromSource('exit5.js', 'sys.exit(5);'),
  returns: programFromSource('returns.js', 'sys.getpid();'),
  throws: programFromSource('throws.js', "throw new Error('child failed');"),
};

describe('SYS_WAIT', () => {
  it('returns { pid, status, signal } for an exit code, a return, a throw and a signal', async () => {
    const { value } = await report(`
      const killed = sys.spawn('idle');
      sys.kill(killed, 'SIGTERM');
      report(['exit5', 'returns', 'throws'].map((p) => raw(SYS.SYS_WAIT, sys.spawn(p))).concat([raw(SYS.SYS_WAIT, killed)]));
    `, { kernel: kernelFor({ programs: PROGRAMS }) });
    expect(value).toEqual([
      { v: { pid: 3, status: 5, signal: null } },
      { v: { pid: 4, status: 0, signal: null } },
      { v: { pid: 5, status: 1, signal: null } },
      { v: { pid: 2, status: 133, signal: 'SIGTERM' } },
    ]);
  });

  it("blocks the caller ('blocked', asleep in the call) until the child exits, then reaps it", async () => {
    const kernel = kernelFor({ programs: { reader: programFromSource('reader.js', "const got = sys.decodeUtf8(sys.read(0)); sys.exit(got.length);") } });
    const input = hostPipe();
    const parent = start(kernel, "const child = sys.spawn('reader', [], { stdin: 0 }); console.log('child ' + child); console.log(JSON.stringify(sys.wait(child)));", { fds: { stdin: input.stdin } });
    await printed(parent, 'child ');
    await parked(parent);
    expect(parent.proc.state).toBe('blocked');
    const childPid = parent.pid + 1;
    expect(kernel.get(childPid)?.exit).toBeUndefined();
    await input.send('four');
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(parent.stdout()).toBe(`child ${childPid}\n{"pid":${childPid},"status":4,"signal":null}\n`);
    expect(kernel.get(childPid)).toBeUndefined();
  });

  it('ECHILD for a pid that is not a child: unknown, itself, a sibling, a grandchild, a child already reaped', async () => {
    const middle = programFromSource('middle.js', `const g = sys.spawn('idle'); console.log(g); ${IDLE}`);
    const kernel = kernelFor({ programs: { ...PROGRAMS, middle } });
    const sibling = kernel.spawn(PROGRAMS.idle, { agentId: 'sibling', stdout: () => {} });
    const { value } = await report(`
      const [r, w] = sys.pipe();
      const child = sys.spawn('middle', [], { stdout: w });
      const grandchild = Number(sys.decodeUtf8(sys.read(r)));
      const done = sys.spawn('returns');
      sys.wait(done);
      const result = {
        unknown: raw(SYS.SYS_WAIT, 12345),
        self: raw(SYS.SYS_WAIT, sys.pid),
        sibling: raw(SYS.SYS_WAIT, ${sibling.pid}),
        grandchild: raw(SYS.SYS_WAIT, grandchild),
        reaped: raw(SYS.SYS_WAIT, done),
        message: syscall(SYS.SYS_WAIT, ${sibling.pid}).message,
      };
      sys.kill(child, 'SIGKILL');
      sys.wait(child);
      report(result);
    `, { kernel });
    expect(value).toEqual({
      unknown: { errno: 'ECHILD' },
      self: { errno: 'ECHILD' },
      sibling: { errno: 'ECHILD' },
      grandchild: { errno: 'ECHILD' },
      reaped: { errno: 'ECHILD' },
      message: 'pid 1 is not a child of pid 2',
    });
  });

  it('EINVAL for malformed arguments', async () => {
    const { value } = await report("report([raw(SYS.SYS_WAIT), raw(SYS.SYS_WAIT, 0), raw(SYS.SYS_WAIT, -1), raw(SYS.SYS_WAIT, '2'), raw(SYS.SYS_WAIT, 1.5), raw(SYS.SYS_WAIT, 2, 3)]);");
    expect(value).toEqual(Array.from({ length: 6 }, () => ({ errno: 'EINVAL' })));
  });

  it('EACCES under a policy with no rule for it; the child is not reaped', async () => {
    const policy = parsePolicy('version: 1\nrules:\n  - id: no-wait\n    effect: allow\n    syscalls: [SYS_WRITE, SYS_SPAWN, SYS_GETPID]\n', 'no-wait.yaml');
    const kernel = kernelFor({ policy, programs: PROGRAMS });
    const { value } = await report("const c = sys.spawn('returns'); report([c, raw(SYS.SYS_WAIT, c)]);", { kernel });
    expect(value).toEqual([2, { errno: 'EACCES' }]);
    expect((await kernel.wait(2)).status).toBe(0);
  });

  it("records each wait as allowed by the default policy's own-processes rule, with read access", async () => {
    const kernel = kernelFor({ programs: PROGRAMS });
    await report("sys.wait(sys.spawn('returns')); report(0);", { kernel, agentId: 'w' });
    expect(syscallRecords(kernel, 'SYS_WAIT').map((r) => [r.effect, r.rule, r.agentId, r.access])).toEqual([['allow', 'own-processes', 'w', 'read']]);
  });
});
