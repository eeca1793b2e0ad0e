/**
 * node:process signal listeners are the kernel's signal handlers: a Node
 * program's `process.on('SIGTERM', …)` for a graceful shutdown runs when an
 * operator sends SIGTERM, `process.off` of the last listener restores the
 * default action, and a listener for a signal agents cannot catch (SIGKILL)
 * or that the kernel does not have (SIGHUP) is accepted and never runs.
 * Real agents in a real kernel.
 */
import { afterEach, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { exitStatusForSignal } from '../../signals/signal-table.ts';
import { capture, testKernel } from '../helpers.ts';
import { until, within } from '../until.ts';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.shutdown();
  kernel = undefined;
});

async function started(source: string): Promise<{ pid: number; out: ReturnType<typeof capture> }> {
  kernel ??= testKernel().kernel;
  const out = capture();
  const proc = kernel.spawn(programFromSource('graceful.ts', source), { stdout: out.sink, stderr: out.sink });
  await until(() => out.text.startsWith('ready\n'), () => `the agent to be ready (printed ${JSON.stringify(out.text)})`);
  await until(() => kernel!.get(proc.pid)?.state === 'blocked', 'the agent to be idle');
  return { pid: proc.pid, out };
}

it("process.on('SIGTERM') runs on an operator's SIGTERM, with the signal's name, and the program shuts down its own way", async () => {
  const agent = await started("process.on('SIGTERM', (name) => { console.log('shutting down on', name); process.exit(7); }); process.once('SIGINT', () => console.log('interrupted')); console.log('ready'); await new Promise(() => {});");
  expect(kernel!.kill(agent.pid, 'SIGINT')).toBe('delivered');
  await until(() => agent.out.text.includes('interrupted'), 'the SIGINT listener');
  expect(kernel!.kill(agent.pid, 'SIGTERM')).toBe('delivered');
  expect(await within(kernel!.wait(agent.pid), 'the agent to end')).toMatchObject({ status: 7, reason: { kind: 'exit' } });
  expect(agent.out.text).toBe('ready\ninterrupted\nshutting down on SIGTERM\n');
});

it('removing the last listener restores the default action; SIGKILL and SIGHUP listeners are accepted and never run', async () => {
  const agent = await started("const f = () => console.log('never'); process.on('SIGTERM', f); process.off('SIGTERM', f); process.on('SIGKILL', f); process.on('SIGHUP', f); console.log('ready'); await new Promise(() => {});");
  kernel!.kill(agent.pid, 'SIGTERM');
  expect(await within(kernel!.wait(agent.pid), 'the agent to end')).toMatchObject({ status: exitStatusForSignal('SIGTERM'), reason: { kind: 'signal', signal: 'SIGTERM' } });
  expect(agent.out.text).toBe('ready\n');
});
