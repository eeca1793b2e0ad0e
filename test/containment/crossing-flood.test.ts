/**
 * Isolates that call the kernel's thread without pause (kernel/crossing-turn.ts).
 * isolated-vm keeps everything a call brings in until no isolate has a call
 * queued; found here: a few isolates, each making asynchronous spawns with
 * 4.4 MB of argv (refused once decoded), took the kernel to its heap limit —
 * 4 GB by default, in under a second.
 * On a sandbox host the same calls, refused after a 4 MB encoding each and
 * issued again and again by ring 3, grew the host to 3.3 GB and left the
 * heartbeat's answer behind 64 MB of frames, until the kernel killed it
 * with every agent on it.
 */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { programFromSource } from '../../kernel/program.ts';
import { NODE_FLAGS, REPO, scratch } from '../governance/helpers.ts';
import { kernelFor } from '../live-agents.ts';
import { until } from '../until.ts';

const files = scratch();
afterAll(() => files.remove());

/** ARGV is 2.2 M two-byte units (4.4 MB): within what one call may carry across, past what SYS_SPAWN takes. */
const FLOOD = (calls: number) => `
const big = '\\u0100'.repeat(2_200_000);
const calls = [];
for (let i = 0; i < ${calls}; i++) calls.push(sys.async.spawn('/bin/none.js', [big]).then(() => 'spawned', (e) => e.errno));
console.log([...new Set(await Promise.all(calls))].join(','));
`;

describe('isolates calling the kernel without pause', () => {
  it('an agent whose three children flood it with 4.4 MB calls cannot take `agentctl run` past a 500 MB heap', async () => {
    const program = files.write(
      'flood.mjs',
      `sys.writeFile('mem/child.js', ${JSON.stringify(FLOOD(300))});
const kids = await Promise.all([0, 1, 2].map(() => sys.async.spawn('mem/child.js')));
for (const pid of kids) console.log('child', sys.wait(pid).status);`,
    );
    const child = spawn(process.execPath, ['--max-old-space-size=500', ...NODE_FLAGS, 'bin/agentctl.ts', 'run', program], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Before the fix: "FATAL ERROR: Reached heap limit" within 1.3–3.5 s, 4 runs of 4. After it, it ends well at 250 MB too.
    expect(err).not.toMatch(/heap limit|FATAL/);
    expect([code, out.trim().split('\n').toSorted()]).toEqual([0, ['ENAMETOOLONG', 'ENAMETOOLONG', 'ENAMETOOLONG', 'child 0', 'child 0', 'child 0']]);
  }, 60_000);

  it('on a sandbox host, two agents continued with 100 such calls each held run to their end, and the host stays', async () => {
    const kernel = kernelFor({ hosts: { count: 1, agentsPerHost: 4, spares: 0, hangMs: 3000 } });
    const program = programFromSource('flood.js', `sys.kill(sys.pid, 'SIGSTOP');\n${FLOOD(100)}`);
    const outputs: string[] = [];
    const procs = await Promise.all([0, 1].map(() => kernel.spawnAsync(program, { stdout: (c) => outputs.push(new TextDecoder().decode(c).trim()) })));
    await until(() => procs.every((p) => p.state === 'stopped' && p.sandbox?.idle === true), 'both to be stopped and idle');
    const host = kernel.hosts!.info()[0]!;
    for (const proc of procs) kernel.kill(proc.pid, 'SIGCONT');
    const exits = await Promise.all(procs.map((p) => p.exited));
    // Before the fix: calls past the host's share failed EAGAIN (after a 4 MB encoding each, ring 3 issuing the next at
    // once); with four agents of 1,000 calls, the host was killed, "stopped answering for 10000 ms", all four lost.
    expect(exits.map((e) => e.status)).toEqual([0, 0]);
    expect(outputs).toEqual(['ENAMETOOLONG', 'ENAMETOOLONG']);
    expect(kernel.hosts!.info()[0]).toMatchObject({ id: host.id, pid: host.pid });
  }, 60_000);
});
