/**
 * `agentctl spawn FILE` accepts what `agentctl run FILE` accepts (bin/commands/spawn-program.ts): a program that
 * imports nothing is sent as its bundle too. Sent as its raw text, agentd compiled it as one script, and what only
 * the build provides (import.meta, __dirname, the project's tsconfig) was lost: a one-file program using
 * import.meta.url ran under run and failed under spawn (an attacker pass). Here: what agentd does with the body
 * (routes/processes.ts) run in a kernel.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { withTempBuildCache } from '../build-cache-env.ts';
import { programToSend } from '../../bin/commands/spawn-program.ts';
import { buildProgram, builtProgram } from '../../kernel/program.ts';
import { Kernel } from '../../kernel/kernel.ts';

const scratch = withTempBuildCache('spawn-single-');

it('a one-file program using import.meta.url, spawned through agentd as agentctl spawn sends it, runs (as under agentctl run)', async () => {
  const dir = join(scratch.folder(), 'p');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), '{"name":"p"}');
  writeFileSync(join(dir, 'agent.ts'), 'const here: string = import.meta.url; console.log(here.endsWith("agent.ts"));');
  const body = await programToSend(join(dir, 'agent.ts'));
  const program = body.sourceMap !== undefined ? builtProgram(body.filename, body.source, body.sourceMap) : await buildProgram(body.filename, body.source);
  const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
  try {
    const proc = await kernel.spawnAsync(program, { argv: [] });
    const exit = await kernel.wait(proc.pid);
    expect(exit.reason.kind === 'error' ? exit.reason.error : 'ok').toBe('ok');
    expect(exit.status).toBe(0);
  } finally {
    await kernel.shutdown();
  }
});
