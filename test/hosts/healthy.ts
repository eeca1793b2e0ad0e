/**
 * Healthy agents for the blast-radius tests through agentd: agent n sleeps
 * (firstMs + n × stepMs), writes a file, reads it back and prints
 * `healthy n`. Every one must finish with status 0 and that line, whatever
 * its neighbours do.
 */
import { expect } from 'vitest';
import { outputOf, processOf, spawnAgent, type Agentd } from '../service/helpers.ts';
import { until } from '../until.ts';

/** spawnHealthy starts `count` healthy agents (ids healthy-0 …) and returns their pids. */
export function spawnHealthy(agentd: Agentd, count: number, firstMs: number, stepMs: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: count }, (_, n) =>
      spawnAgent(agentd, `await new Promise((r) => setTimeout(r, ${firstMs} + ${n} * ${stepMs})); sys.writeFile('mem/working/n.txt', '${n}'); console.log('healthy', sys.readFile('mem/working/n.txt'));`, { id: `healthy-${n}` }),
    ),
  );
}

/** untilEnded waits until every one of `pids` has exited. */
export async function untilEnded(agentd: Agentd, pids: readonly number[], what: string, timeoutMs: number): Promise<void> {
  await until(async () => (await Promise.all(pids.map((pid) => processOf(agentd, pid)))).every((p) => p.state === 'exited'), what, timeoutMs);
}

/** expectHealthyDone checks that every healthy agent ended with status 0 and its own line. */
export async function expectHealthyDone(agentd: Agentd, pids: readonly number[]): Promise<void> {
  const outcomes = await Promise.all(pids.map(async (pid) => [(await processOf(agentd, pid)).status, await outputOf(agentd, pid)]));
  expect(outcomes).toEqual(pids.map((_, n) => [0, `healthy ${n}\n`]));
}
