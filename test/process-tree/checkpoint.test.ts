/**
 * Checkpoint round trip: an agent writes memory and checkpoints it; with a
 * state directory the kernel keeps the checkpoint on the host; a new kernel on
 * the same state directory shows it under state/checkpoints; and
 * `agentctl run --restore DIR` starts an agent whose mem/ holds the restored
 * files.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointed, exited, IDLE, idle, kernelFor, start } from '../live-agents.ts';
import { until } from '../until.ts';
import { agentctl } from './agentctl.ts';

const scratch = mkdtempSync(join(tmpdir(), 'checkpoint-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function freshDir(name: string): string {
  return mkdtempSync(join(scratch, `${name}-`));
}

const WRITE_AND_CHECKPOINT = `
  sys.writeFile('mem/working/plan.txt', 'step 1: remember');
  sys.mkdir('mem/semantic/facts', { recursive: true });
  sys.writeFile('mem/semantic/facts/sky.json', '{"sky":"blue"}');
  console.log(JSON.stringify(sys.checkpoint()));
`;

describe('checkpoints on the host', () => {
  it('a kernel with a stateDir writes the checkpoint to <stateDir>/<agent>/checkpoints/<n> with its manifest', async () => {
    const stateDir = freshDir('state');
    const kernel = kernelFor({ stateDir });
    const agent = start(kernel, WRITE_AND_CHECKPOINT, { agentId: 'rememberer' });
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(JSON.parse(agent.stdout())).toEqual({ n: 1, path: '/agent/rememberer/state/checkpoints/1', bytes: 30, files: 2 });
    const dir = join(stateDir, 'rememberer', 'checkpoints', '1');
    expect(readFileSync(join(dir, 'mem', 'working', 'plan.txt'), 'utf8')).toBe('step 1: remember');
    expect(readFileSync(join(dir, 'mem', 'semantic', 'facts', 'sky.json'), 'utf8')).toBe('{"sky":"blue"}');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toEqual({ agent: 'rememberer', n: 1, time: expect.any(String), policyVersion: kernel.engine.version, bytes: 30, files: 2 });
    expect(new Date(manifest.time).toISOString()).toBe(manifest.time);
    expect(Math.abs(Date.parse(manifest.time) - Date.now())).toBeLessThan(60_000);
  });

  it('SIGUSR1 writes its checkpoint to the host too', async () => {
    const stateDir = freshDir('usr1');
    const kernel = kernelFor({ stateDir });
    const agent = start(kernel, `sys.writeFile('mem/episodic/log', 'event'); ${IDLE}`, { agentId: 'signalled' });
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGUSR1')).toBe('checkpointed');
    await checkpointed(kernel, 'signalled', 1);
    const dir = join(stateDir, 'signalled', 'checkpoints', '1');
    await until(() => existsSync(join(dir, 'manifest.json')), 'the host copy');
    expect(readFileSync(join(dir, 'mem', 'episodic', 'log'), 'utf8')).toBe('event');
  });

  it('a new kernel on the same stateDir shows the checkpoint under state/checkpoints, and numbering goes on', async () => {
    const stateDir = freshDir('restart');
    const first = start(kernelFor({ stateDir }), WRITE_AND_CHECKPOINT, { agentId: 'phoenix' });
    expect(await exited(first)).toMatchObject({ status: 0 });

    const second = kernelFor({ stateDir });
    const reborn = start(second, `
      const dir = 'state/checkpoints';
      console.log(JSON.stringify({
        listing: sys.readdir(dir).map((e) => e.name),
        plan: sys.readFile(dir + '/1/mem/working/plan.txt'),
        manifest: JSON.parse(sys.readFile(dir + '/1/manifest.json')).n,
        memIsFresh: sys.readdir('mem/working').length,
        next: sys.checkpoint().n,
      }));
    `, { agentId: 'phoenix' });
    expect(await exited(reborn)).toMatchObject({ status: 0 });
    expect(JSON.parse(reborn.stdout())).toEqual({ listing: ['1'], plan: 'step 1: remember', manifest: 1, memIsFresh: 0, next: 2 });
    expect(existsSync(join(stateDir, 'phoenix', 'checkpoints', '2', 'manifest.json'))).toBe(true);
  });

  it("another agent's checkpoints stay out of a new kernel's view of this agent", async () => {
    const stateDir = freshDir('separate');
    const a = start(kernelFor({ stateDir }), WRITE_AND_CHECKPOINT, { agentId: 'alice' });
    expect(await exited(a)).toMatchObject({ status: 0 });
    const b = start(kernelFor({ stateDir }), "console.log(sys.readdir('state/checkpoints').length);", { agentId: 'bob' });
    expect(await exited(b)).toMatchObject({ status: 0 });
    expect(b.stdout()).toBe('0\n');
  });
});

describe('restoring a checkpoint', () => {
  it('agentctl run --restore <stateDir>/<agent>/checkpoints/1 starts an agent whose mem/ holds the restored files', async () => {
    const stateDir = freshDir('restore');
    const writer = start(kernelFor({ stateDir }), WRITE_AND_CHECKPOINT, { agentId: 'origin' });
    expect(await exited(writer)).toMatchObject({ status: 0 });
    const program = join(freshDir('prog'), 'recall.js');
    writeFileSync(program, "console.log(sys.readFile('mem/working/plan.txt')); console.log(sys.readFile('mem/semantic/facts/sky.json')); console.log(sys.readdir('state/checkpoints').length);");
    const out = await agentctl(['run', '--restore', join(stateDir, 'origin', 'checkpoints', '1'), program]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('step 1: remember\n{"sky":"blue"}\n0\n');
    expect(out.code).toBe(0);
  }, 60_000);

  it('agentctl run --restore with --state: the restored agent checkpoints into the new state dir', async () => {
    const stateDir = freshDir('restore-from');
    const writer = start(kernelFor({ stateDir }), WRITE_AND_CHECKPOINT, { agentId: 'origin' });
    expect(await exited(writer)).toMatchObject({ status: 0 });
    const newState = freshDir('restore-to');
    const program = join(freshDir('prog'), 'again.js');
    writeFileSync(program, "sys.appendFile('mem/working/plan.txt', ', step 2'); console.log(sys.checkpoint().n);");
    const out = await agentctl(['run', '--agent', 'heir', '--state', newState, '--restore', join(stateDir, 'origin', 'checkpoints', '1'), program]);
    expect(out.stdout).toBe('1\n');
    expect(out.code).toBe(0);
    expect(readFileSync(join(newState, 'heir', 'checkpoints', '1', 'mem', 'working', 'plan.txt'), 'utf8')).toBe('step 1: remember, step 2');
  }, 60_000);

  it('agentctl run --restore of a directory that is not a checkpoint is one line on stderr and status 2', async () => {
    const out = await agentctl(['run', '--restore', freshDir('empty'), 'examples/hello.ts']);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^agentctl: .*not a checkpoint.*\n$/);
  }, 60_000);

  it('Kernel.spawn with restore seeds mem/ in process, without agentctl', async () => {
    const stateDir = freshDir('inproc');
    const writer = start(kernelFor({ stateDir }), WRITE_AND_CHECKPOINT, { agentId: 'src' });
    expect(await exited(writer)).toMatchObject({ status: 0 });
    const reader = start(kernelFor(), "console.log(sys.readFile('mem/working/plan.txt'));", { agentId: 'dst', restore: join(stateDir, 'src', 'checkpoints', '1') });
    expect(await exited(reader)).toMatchObject({ status: 0 });
    expect(reader.stdout()).toBe('step 1: remember\n');
  });
});
