/** The `redis:` section of agentd's configuration: one server, Sentinel or Cluster, with defaults, and clear errors. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../kernel/service/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'cluster-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig(file);
}

describe('the redis: section', () => {
  it('is absent by default: agentd runs alone', () => {
    expect(load('term_grace_ms: 100\n').redis).toBeUndefined();
  });

  it('a url, with defaults for the prefix, node id, heartbeat and TTL', () => {
    const redis = load('redis:\n  url: redis://127.0.0.1:6380/2\n').redis!;
    expect(redis).toMatchObject({ url: 'redis://127.0.0.1:6380/2', keyPrefix: 'agentk', heartbeatMs: 500, nodeTtlMs: 3000, commandTimeoutMs: 1000 });
    expect(redis.nodeId).toMatch(/^[A-Za-z0-9_-]+-\d+$/);
  });

  it('the same section points at Sentinel or at Redis Cluster', () => {
    const sentinel = load('redis:\n  sentinels: [{ host: 10.0.0.1, port: 26379 }]\n  name: main\n  node_id: a\n').redis!;
    expect(sentinel).toMatchObject({ sentinels: [{ host: '10.0.0.1', port: 26379 }], name: 'main', nodeId: 'a' });
    expect(sentinel.url).toBeUndefined();
    const cluster = load('redis:\n  cluster: [{ host: 10.0.0.1, port: 7000 }, { host: 10.0.0.2, port: 7000 }]\n  key_prefix: prod\n').redis!;
    expect(cluster).toMatchObject({ cluster: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }], keyPrefix: 'prod' });
  });

  it('refuses two places at once, unknown fields, bad names and a TTL shorter than two beats', () => {
    expect(() => load('redis:\n  url: redis://h:1\n  cluster: [{ host: h, port: 1 }]\n')).toThrow(/give one of url, sentinels or cluster/);
    expect(() => load('redis:\n  host: h\n')).toThrow(/redis\.host: is not a known field/);
    expect(() => load('redis:\n  node_id: "a b"\n')).toThrow(ConfigError);
    expect(() => load('redis:\n  url: http://h\n')).toThrow(/redis\/url|redis\.url/);
    expect(() => load('redis:\n  heartbeat_ms: 1000\n  node_ttl_ms: 1500\n')).toThrow(/node_ttl_ms must be at least twice heartbeat_ms/);
  });
});
