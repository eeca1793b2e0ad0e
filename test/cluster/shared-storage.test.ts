/**
 * agentd's `mounts:` and decision stream: the configuration (paths, backends,
 * stream modes, clear errors), and two real agentd nodes sharing one Redis —
 * an agent writes `mem/semantic` (mounted on Redis) through node A and the
 * same agent reads it through node B, while `mem/working` stays on each
 * node's memfs; every record of each node's file log is in its decision
 * stream, and `agentctl audit verify --redis` verifies both chains.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../kernel/service/config.ts';
import { openSharedStorage, redisRoot } from '../../kernel/service/shared-storage.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { agentctl as ctl } from '../governance/helpers.ts';
import { clusterRedis, startNode, until, type Node } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'shared-storage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig(file);
}

describe('the mounts: section and log.stream', () => {
  it('defaults: no mounts; the stream mirrors the file log', () => {
    expect(load('term_grace_ms: 100\n')).toMatchObject({ mounts: [], logStream: { mode: 'mirror', replicas: 0, replicaTimeoutMs: 1000 } });
  });

  it('mounts in each tree or one place for all, each on memfs or redis; stream modes and replicas', () => {
    const config = load('mounts:\n  - { path: mem/semantic, backend: redis }\n  - { path: /shared, backend: redis, read_only: true }\n  - { path: mem/scratch, backend: memfs }\nlog: { stream: before-action, stream_replicas: 1, stream_replica_timeout_ms: 250 }\n');
    expect(config.mounts).toEqual([
      { path: 'mem/semantic', backend: 'redis', readOnly: false },
      // A shared Redis tree is bounded as each agent's own is, unless the configuration says how far (an attacker pass filled Redis through one).
      { path: '/shared', backend: 'redis', readOnly: true, quota: { bytes: 256 * 1024 * 1024, inodes: 65_536 } },
      { path: 'mem/scratch', backend: 'memfs', readOnly: false },
    ]);
    expect(load('mounts:\n  - { path: /big, backend: redis, quota: { bytes: 1073741824, inodes: 1000000 } }\n').mounts).toEqual([{ path: '/big', backend: 'redis', readOnly: false, quota: { bytes: 1073741824, inodes: 1000000 } }]);
    expect(config.logStream).toEqual({ mode: 'before-action', replicas: 1, replicaTimeoutMs: 250 });
    expect([redisRoot('mem/semantic', 'alice'), redisRoot('/shared', 'alice')]).toEqual(['agent/alice/mem/semantic', 'shared']);
  });

  it('refuses a path out of the tree, its policy/, a mount twice, an unknown backend or stream mode', () => {
    expect(() => load('mounts:\n  - { path: ../bob, backend: memfs }\n')).toThrow(/mounts: mount path '..\/bob' must name a directory inside/);
    expect(() => load('mounts:\n  - { path: policy/x, backend: memfs }\n')).toThrow(ConfigError);
    expect(() => load('mounts:\n  - { path: mem/a, backend: memfs }\n  - { path: mem/a/, backend: redis }\n')).toThrow(/twice/);
    expect(() => load('mounts:\n  - { path: mem/a, backend: s3 }\n')).toThrow(ConfigError);
    expect(() => load('log: { stream: sometimes }\n')).toThrow(ConfigError);
  });

  it('a mount on redis without a redis: section is refused; memfs mounts need no Redis', () => {
    const log = new FileDecisionLog(join(dir, `d${Math.random().toString(36).slice(2)}.jsonl`));
    try {
      const stream = { mode: 'mirror', replicas: 0, replicaTimeoutMs: 1000 } as const;
      expect(() => openSharedStorage({ mounts: [{ path: 'mem/semantic', backend: 'redis', readOnly: false }], stream }, log)).toThrow(/there is no redis: section/);
      const alone = openSharedStorage({ mounts: [{ path: 'mem/scratch', backend: 'memfs', readOnly: false }], stream }, log);
      expect([alone.recorder, alone.mounts.length, alone.stream]).toEqual([log, 1, undefined]);
    } finally {
      log.close();
    }
  });
});

const redis = await clusterRedis('shared-storage');
afterAll(() => redis?.cleanup());

/** run spawns `source` as agent alice on `node`, waits for it to exit and returns its stdout. */
async function run(node: Node, source: string): Promise<string> {
  const res = await node.api('POST', '/v1/processes', { source, filename: 'agent.js', manifest: { id: 'alice' } });
  expect(res.status).toBe(201);
  const pid = (res.body as { pid: number }).pid;
  await until(async () => (await node.api('GET', `/v1/processes/${pid}`)).body?.state === 'exited', `pid ${pid} on ${node.id} to exit`);
  return ((await node.api('GET', `/v1/processes/${pid}/output`)).body as { stdout: string }).stdout;
}

const MOUNTS = 'mounts:\n  - { path: mem/semantic, backend: redis }\n';

describe.skipIf(redis === undefined)('two agentd nodes with mem/semantic on Redis', () => {
  let a: Node;
  let b: Node;
  beforeAll(async () => {
    const common = { redisUrl: redis!.url, prefix: redis!.prefix, config: MOUNTS };
    [a, b] = await Promise.all([startNode({ ...common, id: 'node-a' }), startNode({ ...common, id: 'node-b' })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.remove(), b?.remove()]);
  });

  it('what alice writes to mem/semantic through node A she reads through node B; mem/working stays on A', async () => {
    expect(await run(a, "sys.writeFile('mem/semantic/fact.txt', 'water boils at 100 C'); sys.writeFile('mem/working/scratch.txt', 'a only'); console.log('done');")).toBe('done\n');
    const seen = await run(b, "let scratch; try { scratch = sys.readFile('mem/working/scratch.txt'); } catch (e) { scratch = e.errno; } console.log(JSON.stringify({ fact: sys.readFile('mem/semantic/fact.txt'), scratch }));");
    expect(JSON.parse(seen)).toEqual({ fact: 'water boils at 100 C', scratch: 'ENOENT' });
  });

  it("each node's decision stream holds its records, and agentctl audit verify --redis verifies both", async () => {
    await until(async () => {
      const out = await ctl(['audit', 'verify', '--redis', redis!.url, '--prefix', redis!.prefix, '--json']);
      const result = JSON.parse(out.stdout) as { ok: boolean; nodes: { node: string; records: number }[] };
      return result.ok && result.nodes.length === 2 && result.nodes.every((n) => n.records > 3);
    }, 'both streams to verify with the nodes records').catch(async (err: unknown) => {
      console.log((await ctl(['audit', 'verify', '--redis', redis!.url, '--prefix', redis!.prefix])).stdout, a.stderr(), b.stderr());
      throw err;
    });
    const text = await ctl(['audit', 'verify', '--redis', redis!.url, '--prefix', redis!.prefix]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^node-a: ok: \d+ records verify; head [0-9a-f]{64}\nnode-b: ok: \d+ records verify; head [0-9a-f]{64}\n$/);
    for (const node of [a, b]) expect((await node.api('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});
