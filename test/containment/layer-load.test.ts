/**
 * A runtime layer (the web globals, the Node modules) loaded in the middle of
 * a program runs as the program's own code, on the isolate's thread (found
 * by an attacker pass: the kernel ran it on its own thread, and a program
 * that had replaced a global the layer calls — Object.defineProperty as an
 * endless loop — and then reached URL by a computed name held the kernel's
 * event loop for good, past every CPU and wall limit; on a sandbox host the
 * host stopped answering and its other agents were lost).
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import type { ExitRecord } from '../../kernel/process.ts';

/** A loop of about a second or more: bounded, so that the kernel before the fix came back (late) instead of hanging the test. */
const SPIN = 'function () { for (let i = 0; i < 3e8; i++); }';

const ATTACKS: readonly [string, string][] = [
  ['Object.defineProperty and a computed URL (the web layer)', `Object.defineProperty = ${SPIN};\nvoid globalThis[['U', 'R', 'L'].join('')];`],
  ['Object.defineProperty and a computed process (the Node layer)', `Object.defineProperty = ${SPIN};\nvoid globalThis['pro' + 'cess'];`],
  ['Object.keys and console.log of an object (the formatter)', `Object.keys = ${SPIN};\nObject.defineProperty = ${SPIN};\nconsole.log({ a: 1 });`],
];

/** NEIGHBOUR prints how late its 40 timers of 10 ms ran, at most. */
const NEIGHBOUR = 'let late = 0; for (let i = 0; i < 40; i++) { const t0 = Date.now(); await new Promise((r) => setTimeout(r, 10)); late = Math.max(late, Date.now() - t0 - 10); } console.log(late);';

async function besideNeighbour(kernel: Kernel, attack: string): Promise<{ attacker: ExitRecord; late: number; neighbour: ExitRecord }> {
  let out = '';
  const neighbour = await kernel.spawnAsync(programFromSource('neighbour.js', NEIGHBOUR), { stdout: (c) => void (out += new TextDecoder().decode(c)) });
  const attacker = await kernel.spawnAsync(programFromSource('attacker.js', attack), { limits: { cpuMs: 300, wallMs: 20_000 } });
  const [a, n] = await Promise.all([kernel.wait(attacker.pid), kernel.wait(neighbour.pid)]);
  return { attacker: a, neighbour: n, late: Number(out.trim()) };
}

describe('a runtime layer loaded in the middle of a program', () => {
  for (const [what, attack] of ATTACKS) {
    it(`runs as the program's CPU: ${what} ends by the CPU limit, and a neighbour's timers stay on time`, async () => {
      const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
      try {
        const { attacker, neighbour, late } = await besideNeighbour(kernel, attack);
        expect(attacker).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL', why: expect.stringMatching(/^CPU time limit 300 ms \(used 3\d\d\.\d ms\)$/) } });
        expect(neighbour.status).toBe(0);
        expect(late).toBeLessThan(250);
      } finally {
        await kernel.shutdown();
      }
    }, 60_000);
  }

  it('on a sandbox host, the host keeps answering and its other agents are not lost', async () => {
    const kernel = new Kernel({ hosts: { count: 1, agentsPerHost: 8, spares: 0 }, stdout: () => {}, stderr: () => {} });
    try {
      const { attacker, neighbour, late } = await besideNeighbour(kernel, ATTACKS[0]![1]);
      expect(attacker).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL', why: expect.stringMatching(/^CPU time limit 300 ms/) } });
      expect(neighbour.status).toBe(0);
      expect(late).toBeLessThan(250);
    } finally {
      await kernel.shutdown();
    }
  }, 60_000);
});
