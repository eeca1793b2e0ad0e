/**
 * The runtime layers (the web globals, the Node modules) and a program that
 * replaces the globals they call (found by an attacker pass and a review).
 * The kernel ran a layer loaded in the middle of a program with runSync on
 * its own thread: the layer's code called the program's replaced
 * Object.defineProperty (an endless loop) past every CPU and wall limit, and
 * on a sandbox host the host stopped answering and its other agents were
 * lost; even made as a function for ring 3 to run, the load ran
 * isolated-vm's end-of-call work (the program's microtasks, a rejected
 * reason's getters) on the kernel's thread. Now a program gets the layers
 * its text names before its first line, and no other: a layer it reaches by
 * a computed name is a ReferenceError, and what a given layer runs later
 * runs as the program's own code, on the isolate's thread.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import type { ExitRecord } from '../../kernel/process.ts';

/** A loop of about a second or more: bounded, so that the kernel before the fix came back (late) instead of hanging the test. */
const SPIN = 'function () { for (let i = 0; i < 3e8; i++); }';

/** Reached by a computed name, a layer the program does not name is not there: a ReferenceError, the kernel not involved. */
const UNNAMED: readonly [string, string][] = [
  ['a computed URL (the web layer)', `Object.defineProperty = ${SPIN};\nvoid globalThis[['U', 'R', 'L'].join('')];`],
  ['a computed process (the Node layer)', `Object.defineProperty = ${SPIN};\nvoid globalThis[['pro', 'cess'].join('')];`],
];
/**
 * Code smuggled out of the program's wrapper runs before the runtime's
 * `__start` (found by a review): the layers it names must be there already,
 * given before the program's script ran at all.
 */
const SPIN_1S = 'function () { const t = Date.now(); while (Date.now() - t < 1000); }';
const SMUGGLED: readonly [string, string][] = [
  ['code in the wrapper call\'s arguments', `}, Promise.resolve().then(${SPIN_1S}));\n(function () {\n// URL`],
  ['a __start of its own', `}); function __start() { Promise.resolve().then(${SPIN_1S}); void URL; }\n(function () {`],
];
/** A layer the program names is given before its first line; what it runs later runs as the program's code. */
const NAMED = `Object.keys = ${SPIN};\nObject.defineProperty = ${SPIN};\nconsole.log({ a: 1 }, new URL('https://a.example/').host);`;

/** NEIGHBOUR prints how late its 40 timers of 10 ms ran, at most. */
const NEIGHBOUR = 'let late = 0; for (let i = 0; i < 40; i++) { const t0 = Date.now(); await new Promise((r) => setTimeout(r, 10)); late = Math.max(late, Date.now() - t0 - 10); } console.log(late);';

async function besideNeighbour(kernel: Kernel, attack: string): Promise<{ attacker: ExitRecord; late: number; neighbour: ExitRecord }> {
  let out = '';
  const neighbour = await kernel.spawnAsync(programFromSource('neighbour.js', NEIGHBOUR), { stdout: (c) => void (out += new TextDecoder().decode(c)) });
  const attacker = await kernel.spawnAsync(programFromSource('attacker.js', attack), { limits: { cpuMs: 300, wallMs: 3000 } });
  const [a, n] = await Promise.all([kernel.wait(attacker.pid), kernel.wait(neighbour.pid)]);
  return { attacker: a, neighbour: n, late: Number(out.trim()) };
}

describe('the runtime layers and a program that replaces the globals they call', () => {
  for (const [what, attack] of UNNAMED) {
    it(`${what}: a ReferenceError saying so, and a neighbour's timers stay on time`, async () => {
      const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
      try {
        const { attacker, neighbour, late } = await besideNeighbour(kernel, attack);
        expect(attacker).toMatchObject({ status: 1, reason: { kind: 'error', error: expect.stringMatching(/^ReferenceError: .* are loaded only for a program whose text names one of them; this one reached one by a computed name/) } });
        expect(neighbour.status).toBe(0);
        expect(late).toBeLessThan(250);
      } finally {
        await kernel.shutdown();
      }
    }, 60_000);
  }

  for (const [what, attack] of SMUGGLED) {
    it(`${what}: its code runs as the program's, on the isolate's thread, and a neighbour's timers stay on time`, async () => {
      const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
      try {
        const { attacker, neighbour, late } = await besideNeighbour(kernel, attack);
        // It ends by its CPU limit, or idles with no main until its wall time: never at the kernel's expense.
        if (attacker.reason.kind === 'signal' && attacker.reason.why.startsWith('CPU')) expect(attacker.reason.why).toMatch(/^CPU time limit 300 ms \(used 3\d\d\.\d ms\)$/);
        expect(neighbour.status).toBe(0);
        expect(late).toBeLessThan(250);
      } finally {
        await kernel.shutdown();
      }
    }, 60_000);
  }

  for (const hosted of [false, true]) {
    it(`a named layer's code, run after the globals were replaced, is the program's CPU: it ends by its limit, by its own error, or runs${hosted ? '; on a sandbox host, the host keeps answering and its other agents are not lost' : ''}, and a neighbour's timers stay on time`, async () => {
      const kernel = new Kernel({ stdout: () => {}, stderr: () => {}, ...(hosted ? { hosts: { count: 1, agentsPerHost: 8, spares: 0 } } : {}) });
      try {
        const { attacker, neighbour, late } = await besideNeighbour(kernel, NAMED);
        // Its replaced globals may break the layer (its own error), spin it (its CPU limit) or not matter: it is the program's own business.
        if (attacker.reason.kind === 'signal') expect(attacker.reason.why).toMatch(/^CPU time limit 300 ms \(used 3\d\d\.\d ms\)$/);
        else expect([0, 1]).toContain(attacker.status);
        expect(neighbour.status).toBe(0);
        expect(late).toBeLessThan(250);
      } finally {
        await kernel.shutdown();
      }
    }, 60_000);
  }
});
