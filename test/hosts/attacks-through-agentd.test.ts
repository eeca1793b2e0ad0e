/**
 * Every resource attack of the adversarial suite, at once, through agentd
 * with sandbox hosts, next to 20 healthy agents: object, Map and Set growth
 * (V8's catastrophic path among them), JSON and string blow-ups, buffers,
 * recursion, a busy loop, a microtask flood and an output flood. Every
 * healthy agent finishes with its own output, every attacker is ended, and
 * /readyz answers 200 throughout.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnAgent, startAgentd, type Agentd } from '../service/helpers.ts';
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

interface Listed {
  state: string;
  status?: number;
}

const processOf = async (pid: number) => (await agentd.api('GET', `/v1/processes/${pid}`)).body as Listed;
const ended = async (pid: number) => (await processOf(pid)).state === 'exited';
const outputOf = async (pid: number) => ((await agentd.api('GET', `/v1/processes/${pid}/output`)).body as { stdout: string }).stdout;

it('every resource attack at once beside 20 healthy agents: the healthy all finish, every attacker is ended, /readyz stays 200', async () => {
  const healthy = await Promise.all(
    Array.from({ length: 20 }, (_, n) =>
      spawnAgent(agentd, `await new Promise((r) => setTimeout(r, 300 + ${n} * 60)); sys.writeFile('mem/working/n.txt', '${n}'); console.log('healthy', sys.readFile('mem/working/n.txt'));`, { id: `healthy-${n}` }),
    ),
  );
  const watching = new AbortController();
  const readiness: number[] = [];
  const watcher = (async () => {
    while (!watching.signal.aborted) {
      readiness.push((await agentd.api('GET', '/readyz')).status);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const attackers = await Promise.all(Object.entries(ATTACKS).map(async ([name, source]) => [name, await spawnAgent(agentd, source, { id: `attack-${name}` })] as const));
  await until(async () => (await Promise.all(healthy.map(ended))).every(Boolean), 'every healthy agent to end', 120_000);
  let states: (readonly [string, string])[] = [];
  await until(
    async () => {
      states = await Promise.all(attackers.map(async ([name, pid]) => [name, (await processOf(pid)).state] as const));
      return states.every(([, state]) => state === 'exited');
    },
    () => `every attacker to end: ${JSON.stringify(states)}`,
    120_000,
  );
  watching.abort();
  await watcher;

  const outcomes = await Promise.all(healthy.map(async (pid) => [(await processOf(pid)).status, await outputOf(pid)]));
  expect(outcomes).toEqual(healthy.map((_, n) => [0, `healthy ${n}\n`]));
  const attacked = Object.fromEntries(await Promise.all(attackers.map(async ([name, pid]) => [name, (await processOf(pid)).status] as const)));
  expect(Object.entries(attacked).filter(([, status]) => status === 0)).toEqual([]);
  expect(readiness.filter((s) => s !== 200)).toEqual([]);
  expect((await agentd.api('GET', '/readyz')).status).toBe(200);
}, 300_000);
