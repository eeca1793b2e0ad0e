/**
 * Through any node, `agentctl output`, `vfs ls`, `vfs cat` and `checkpoint`
 * (and GET …/checkpoints) reach a process on another node: the node that
 * runs it answers, so every answer and every error through node B is the
 * one node A gives itself. A process lost with its node says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, clusterRedis, startNode, until, type Node } from './helpers.ts';

const redis = await clusterRedis('process-calls');

const WRITER = "sys.writeFile('mem/working/note.txt', 'remember the milk'); console.log('ready'); console.error('a warning'); await new Promise(() => {});";
const FAILING = "console.log('working'); console.error('about to fail'); throw new Error('boom');";

describe.skipIf(redis === undefined)('process calls through a node that does not run the process', () => {
  let a: Node;
  let b: Node;

  beforeAll(async () => {
    const common = { redisUrl: redis!.url, prefix: redis!.prefix };
    [a, b] = await Promise.all([startNode({ ...common, id: 'node-a' }), startNode({ ...common, id: 'node-b' })]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.remove(), b?.remove()]);
    await redis?.cleanup();
  });

  it('agentctl output, vfs ls, vfs cat and checkpoint through node B answer for a process on node A', async () => {
    const pid = await a.spawn(WRITER);
    const agentId = (await a.api('GET', `/v1/processes/${pid}`)).body.agentId as string;

    const output = await agentctl(b, 'output', String(pid));
    expect([output.status, output.stdout, output.stderr]).toEqual([0, 'ready\n', 'a warning\n']);

    const ls = await agentctl(b, 'vfs', 'ls', String(pid), 'mem/working');
    expect([ls.status, ls.stdout, ls.stderr]).toEqual([0, 'note.txt\n', '']);

    const cat = await agentctl(b, 'vfs', 'cat', String(pid), 'mem/working/note.txt');
    expect([cat.status, cat.stdout, cat.stderr]).toEqual([0, 'remember the milk', '']);

    const checkpoint = await agentctl(b, 'checkpoint', String(pid));
    expect([checkpoint.status, checkpoint.stderr]).toEqual([0, '']);
    expect(checkpoint.stdout).toBe(`checkpoint 1: 1 files, 17 bytes at /agent/${agentId}/state/checkpoints/1\n`);
    // Node A took it and recorded it; its checkpoint list, read through B, has it.
    const records = (await a.api('GET', '/v1/decisions?type=checkpoint')).body as { pid: number; detail: string }[];
    expect(records.filter((r) => r.pid === pid).map((r) => r.detail)).toEqual(['checkpoint 1: 1 files, 17 bytes']);
    const listed = await b.api('GET', `/v1/processes/${pid}/checkpoints`);
    expect([listed.status, listed.body]).toMatchObject([200, [{ n: 1, agent: agentId, bytes: 17 }]]);
  });

  it("an exited process's output and exit report through node B are node A's", async () => {
    const pid = await a.spawn(FAILING, false);
    await until(async () => (await a.api('GET', `/v1/processes/${pid}`)).body.state === 'exited', `pid ${pid} to exit`);
    const here = await agentctl(a, 'output', String(pid));
    const there = await agentctl(b, 'output', String(pid));
    expect(there).toEqual(here);
    expect([there.status, there.stdout]).toEqual([0, 'working\n']);
    expect(there.stderr).toContain(`about to fail\nagentctl: pid ${pid} exited(1), error:\nError: boom\n    at main (agent.js:`);
    expect((await b.api('GET', `/v1/processes/${pid}/output`)).body).toMatchObject({ status: 1, exitReason: { kind: 'error' } });
  });

  it('every error through node B is the one node A gives for its own process', async () => {
    const live = await a.spawn(WRITER);
    const exited = await a.spawn("console.log('bye');", false);
    await until(async () => (await a.api('GET', `/v1/processes/${exited}`)).body.state === 'exited', `pid ${exited} to exit`);
    const requests: [string, string][] = [
      ['GET', `/v1/processes/${live}/vfs/cat?path=mem/working/absent.txt`],
      ['GET', `/v1/processes/${live}/vfs/cat`],
      ['GET', `/v1/processes/${live}/vfs/ls?path=mem/working/note.txt`],
      ['GET', `/v1/processes/${live}/vfs/cat?path=../../../etc/passwd`],
      ['POST', `/v1/processes/${exited}/checkpoint`],
      ['GET', `/v1/processes/${exited}/vfs/ls?path=mem`],
    ];
    for (const [method, path] of requests) {
      const here = await a.api(method, path);
      const there = await b.api(method, path);
      expect({ path, ...there }).toEqual({ path, ...here });
    }
    expect((await b.api('GET', `/v1/processes/${live}/vfs/cat?path=mem/working/absent.txt`)).body).toMatchObject({ errno: 'ENOENT' });
    expect((await b.api('POST', `/v1/processes/${exited}/checkpoint`)).body).toEqual({ errno: 'ESRCH', error: `process ${exited} has exited` });

    const unknown = await agentctl(b, 'output', '999999');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^agentctl: no process 999999 /);
  });

  it('a process lost with its node is reported lost through the node still up, not as unknown', async () => {
    const pid = await a.spawn(WRITER);
    a.child.kill('SIGKILL');
    await a.exited;
    await until(async () => (await b.api('GET', `/v1/processes/${pid}/output`)).status === 404, `pid ${pid} to be lost`);
    for (const args of [['output', String(pid)], ['vfs', 'cat', String(pid), 'mem/working/note.txt'], ['checkpoint', String(pid)]]) {
      const lost = await agentctl(b, ...args);
      expect([args, lost.status, lost.stderr]).toEqual([args, 1, `agentctl: process ${pid} was lost with node node-a\n`]);
    }
  });
});
