/**
 * Every resource attack of the adversarial suite, at once, through agentd
 * with sandbox hosts, next to 20 healthy agents: object, Map and Set growth
 * (V8's catastrophic path among them), JSON and string blow-ups, buffers,
 * recursion, a busy loop, a microtask flood and an output flood. Every
 * healthy agent finishes with its own output, every attacker is ended, and
 * /readyz answers 200 throughout.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { processOf, spawnAgent, startAgentd, watchReadiness, type Agentd } from '../service/helpers.ts';
import { expectHealthyDone, spawnHealthy, untilEnded } from './healthy.ts';
import { until } from '../until.ts';

const ATTACKS: Readonly<Record<string, string>> = {
  object: "const o = {}; let i = 0; while (true) o['k' + i++] = i;",
  map: 'const m = new Map(); let i = 0; while (true) m.set(i, i++);',
  set: 'const s = new Set(); let i = 0; while (true) s.add(i++);',
  json: 'let x = [1]; for (;;) x = JSON.parse(JSON.stringify([x, x, x]));',
  string: "let s = 'x'; for (;;) s += s;",
  buffers: 'const a = []; for (;;) a.push(new Uint8Array(1 << 20).fill(1));',
  recursion: 'const f = (n) => f(n + 1) + 1; f(0);',
  busy: 'for (;;) {}',
  microtasks: 'const f = () => Promise.resolve().then(f); f(); await new Promise(() => {});',
  output: "const line = 'x'.repeat(1000); for (;;) console.log(line);",
};

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd('hosts: { count: 2, agents_per_host: 64 }\nlimits: { cpu_ms: 3000 }\n');
});
afterAll(() => agentd.remove());

it('every resource attack at once beside 20 healthy agents: the healthy all finish, every attacker is ended, /readyz stays 200', async () => {
  const healthy = await spawnHealthy(agentd, 20, 300, 60);
  const watcher = watchReadiness(agentd, 100);
  const attackers = await Promise.all(Object.entries(ATTACKS).map(async ([name, source]) => [name, await spawnAgent(agentd, source, { id: `attack-${name}` })] as const));
  await untilEnded(agentd, healthy, 'every healthy agent to end', 120_000);
  let states: (readonly [string, string])[] = [];
  await until(
    async () => {
      states = await Promise.all(attackers.map(async ([name, pid]) => [name, (await processOf(agentd, pid)).state] as const));
      return states.every(([, state]) => state === 'exited');
    },
    () => `every attacker to end: ${JSON.stringify(states)}`,
    120_000,
  );
  const readiness = await watcher.stop();

  await expectHealthyDone(agentd, healthy);
  const attacked = Object.fromEntries(await Promise.all(attackers.map(async ([name, pid]) => [name, (await processOf(agentd, pid)).status] as const)));
  expect(Object.entries(attacked).filter(([, status]) => status === 0)).toEqual([]);
  expect(readiness.filter((s) => s !== 200)).toEqual([]);
  expect((await agentd.api('GET', '/readyz')).status).toBe(200);
}, 300_000);
