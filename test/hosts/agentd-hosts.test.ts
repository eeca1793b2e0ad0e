/**
 * The blast radius through agentd with sandbox hosts (`hosts:` in its
 * configuration): 20 healthy agents run while one agent takes V8's
 * catastrophic out-of-memory path. Every healthy agent finishes with its
 * output, /readyz answers 200 throughout, the agent's host is drained and
 * replaced, and `agentctl top` and /metrics show the hosts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitStatusForSignal } from '../../signals/signal-table.ts';
import { agentctl, outputOf, processOf, spawnAgent, startAgentd, watchReadiness, type Agentd } from '../service/helpers.ts';
import { expectHealthyDone, spawnHealthy, untilEnded } from './healthy.ts';
import { until } from '../until.ts';

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd('hosts: { count: 2, agents_per_host: 64 }\n');
});
afterAll(() => agentd.remove());

/** servedOn reads, from `agentctl top`, how many calls the host with one agent ran under leases. */
const servedOn = (top: string): number => Number(/ 1 agents (\d+) served/.exec(top)?.[1] ?? 0);

describe('agentd with sandbox hosts', () => {
  it('one catastrophic agent beside 20 healthy ones: all 20 finish, /readyz never leaves 200, the host is replaced', async () => {
    const healthy = await spawnHealthy(agentd, 20, 100, 20);
    const watcher = watchReadiness(agentd, 50);
    const bad = await spawnAgent(agentd, "const o = {}; let i = 0; while (true) o['k' + i++] = i;", { id: 'catastrophic' });
    await untilEnded(agentd, [bad], 'the catastrophic agent to end', 60_000);
    await untilEnded(agentd, healthy, 'the healthy agents to end', 60_000);
    const readiness = await watcher.stop();

    const ended = await processOf(agentd, bad);
    expect(ended.status).toBe(exitStatusForSignal('SIGKILL'));
    expect(ended.exitReason?.why).toMatch(/catastrophic out-of-memory .*sandbox host is drained and replaced/);
    await expectHealthyDone(agentd, healthy);
    expect(readiness.length).toBeGreaterThan(0);
    expect(readiness.filter((s) => s !== 200)).toEqual([]);

    // The quarantined host ends; two healthy hosts remain, and the next agent runs.
    await until(async () => ((await agentd.api('GET', '/v1/hosts')).body as { state: string }[]).every((h) => h.state !== 'draining'), 'the quarantined host to end');
    // Host 3 was the spare: it took the quarantined host's place, and a new spare was started.
    const hosts = (await agentd.api('GET', '/v1/hosts')).body as { id: number; state: string }[];
    expect(hosts.map((h) => h.state).toSorted()).toEqual(['ready', 'ready', 'spare']);
    expect(hosts.find((h) => h.id === 3)?.state).toBe('ready');
    const next = await spawnAgent(agentd, "console.log('next');");
    await untilEnded(agentd, [next], 'the next agent to end', 15_000);
    expect(await outputOf(agentd, next)).toBe('next\n');

    const log = await agentctl(agentd, 'audit', 'verify');
    expect(log.status).toBe(0);
    const events = await agentctl(agentd, 'logs', '--agent', 'kernel', '--limit', '1000');
    expect(events.stdout).toMatch(/sandbox host \d \(pid \d+\) quarantined: pid \d+'s isolate took V8's catastrophic out-of-memory path/);
    expect(events.stdout).toMatch(/sandbox host \d \(pid \d+\) drained and ended/);
  }, 180_000);

  it('agentctl top and /metrics show each host, its agents and the calls it ran under leases', async () => {
    const pid = await spawnAgent(agentd, "for (let i = 0; i < 100; i++) sys.getpid(); console.log('ready'); await new Promise((r) => setTimeout(r, 60_000));");
    // Most of its 100 getpids ran in its host, under the leases the others brought (16 calls, then 32, 64…; hosts count what ran on them since they started).
    await until(async () => servedOn((await agentctl(agentd, 'top', '--once')).stdout) >= 90, 'the leased getpids reported');
    const top = await agentctl(agentd, 'top', '--once');
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/^sandbox hosts: \d+ ready \d+ agents \d+ served, \d+ ready \d+ agents \d+ served, \d+ spare 0 agents 0 served$/m);
    const metrics = await agentd.api('GET', '/metrics');
    expect(metrics.text).toMatch(/^agentk_sandbox_host_agents\{host="\d+",state="ready"\} 1$/m);
    expect(Math.max(...[...metrics.text.matchAll(/^agentk_sandbox_host_served_syscalls\{host="\d+"\} (\d+)$/gm)].map((m) => Number(m[1])))).toBeGreaterThanOrEqual(90);
    await agentd.api('POST', `/v1/processes/${pid}/signal`, { signal: 'KILL' });
  });
});
