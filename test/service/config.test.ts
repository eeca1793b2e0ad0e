/**
 * agentd's configuration file: the limits every agent gets (known keys only,
 * so a misspelt limit is an error, not a silently missing bound), the
 * process cap, and retention — checked by loading files, and end to end by
 * a real agentd that forgets an agent's tree once it is gone.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../kernel/service/config.ts';
import { IDLE_AGENT, spawnAgent, startAgentd, until } from './helpers.ts';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'agentd-config-')), 'agentd.yaml');
  writeFileSync(file, text);
  return file;
}

describe('agentd configuration: limits, max_processes, retention', () => {
  it('reads every limit the kernel knows, the process cap and retention; defaults where absent', () => {
    const config = loadConfig(configFile('limits: { vfs_bytes: 1048576, vfs_inodes: 100, syscalls_per_second: 50000 }\nmax_processes: 500\nretention: { exited_ms: 5000, trees_ms: 0, checkpoints: 2 }\n'));
    expect(config.limits).toEqual({ vfs_bytes: 1048576, vfs_inodes: 100, syscalls_per_second: 50000 });
    expect(config.maxProcesses).toBe(500);
    expect(config.retention).toEqual({ exitedMs: 5000, treesMs: 0, checkpoints: 2 });
    expect(loadConfig(undefined).retention).toEqual({ exitedMs: 60_000, treesMs: 60_000, checkpoints: 5 });
  });

  it('a misspelt limit is refused naming it (it would otherwise leave that resource unbounded)', () => {
    const file = configFile('limits: { vfs_byte: 1 }\n');
    expect(() => loadConfig(file)).toThrow(ConfigError);
    expect(() => loadConfig(file)).toThrow(`${file}: limits.vfs_byte: is not a known field`);
  });

  it('a limit out of the range a policy may give it is refused naming it (heap_mib 4 loaded, and every spawn failed in isolated-vm)', () => {
    const file = configFile('limits: { heap_mib: 4 }\n');
    expect(() => loadConfig(file)).toThrow(ConfigError);
    expect(() => loadConfig(file)).toThrow(/limits\.heap_mib: .*8/);
    expect(() => loadConfig(configFile('limits: { open_files: 0 }\n'))).toThrow(/limits\.open_files: /);
  });

  it('end to end: with retention.trees_ms 0, an agent that is gone leaves no tree behind', async () => {
    const agentd = await startAgentd('retention: { exited_ms: 0, trees_ms: 0 }\n');
    try {
      const writer = await spawnAgent(agentd, "sys.writeFile('mem/working/left', 'behind');", { id: 'passing' });
      await until(async () => (await agentd.api('GET', `/v1/processes/${writer}`)).status === 404, 'the exited writer to be reaped');
      const reader = await spawnAgent(agentd, `try { sys.readFile('mem/working/left'); console.log('found'); } catch (e) { console.log(e.errno); } ${IDLE_AGENT}`, { id: 'passing' });
      expect((await agentd.api('GET', `/v1/processes/${reader}/output`)).body.stdout).toBe('ENOENT\nready\n');
    } finally {
      await agentd.remove();
    }
  });
});
