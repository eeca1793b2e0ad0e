/**
 * A full disk under the decision log, for real: the log lives on a tmpfs
 * mounted small (this needs root, as CI has), then remounted larger.
 * - FileDecisionLog: the write that does not fit (cut short, or refused
 *   outright) is undone, so the file ends at a whole record; the action that
 *   asked fails with ENOSPC; records go on being numbered in order and wait;
 *   once there is room again a retry writes them all, and the chain verifies
 *   contiguous, with every record made.
 * - agentd: /v1/evaluate answers 503 ENOSPC (no decision without its record),
 *   /readyz says not ready and why, /healthz still answers; when space
 *   returns agentd is ready again by itself, answers again, verifies, and
 *   stops cleanly on SIGTERM.
 * - agentctl run --log onto a full disk: the agent's write fails with ENOSPC
 *   (printing and exit too: nothing leaves the kernel unrecorded), the error
 *   ends it, and the command ends (it used to hang), saying what it could not
 *   record.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import type { DecisionInput } from '../../syscalls/records.ts';
import { type Agentd, ctl, startAgentd } from '../service/helpers.ts';
import { until } from '../until.ts';

/** tinyDisk mounts a tmpfs of `kib` KiB on a new directory; undefined where this process may not mount (not root). */
function tinyDisk(kib: number): { dir: string; grow(kib: number): void; remove(): void } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'disk-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    dir,
    grow: (size) => execFileSync('mount', ['-o', `remount,size=${size}k`, dir], { stdio: 'ignore' }),
    remove() {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const probe = tinyDisk(8);
probe?.remove();
const canMount = probe !== undefined;

const disks: { remove(): void }[] = [];
afterAll(() => disks.forEach((d) => d.remove()));

function disk(kib: number): { dir: string; grow(kib: number): void } {
  const made = tinyDisk(kib);
  if (made === undefined) throw new Error('cannot mount a tmpfs');
  disks.push(made);
  return made;
}

function entry(i: number, access: 'read' | 'write'): DecisionInput {
  const path = `/agent/a/mem/working/notes-${i}.md`;
  return { type: 'syscall', pid: 1, agentId: 'a', syscall: access === 'write' ? 'SYS_WRITE' : 'SYS_READ', access, effect: 'allow', rule: 'r', reason: 'allowed by rule r', path, args: { path, i } };
}

/** agentdOnDisk starts agentd with its decision log on a disk of `kib` KiB: `log` adds to its log settings, `more` to its configuration. */
async function agentdOnDisk(kib: number, log = '', more = ''): Promise<{ agentd: Agentd; logFile: string; grow(kib: number): void }> {
  const { dir, grow } = disk(kib);
  const logFile = join(dir, 'decisions.jsonl');
  const agentd = await startAgentd(`policy: policy.yaml\nlog: { file: ${logFile}${log} }\n${more}`, {
    'policy.yaml': 'version: 1\nrules:\n  - { id: reads, effect: allow, syscalls: [file.read] }\n',
  });
  return { agentd, logFile, grow };
}

/** asking is agent reader's evaluation of its `i`th small read, through `agentd`. */
const asking = (agentd: Agentd) => (i: number) => agentd.api('POST', '/v1/evaluate', { agent: 'reader', action: 'file.read', resource: `/data/file-${i}.txt`, access: 'read', arguments: { pad: 'x'.repeat(200) } });

const seqsOf = (text: string) => text.split('\n').slice(0, -1).map((line) => (JSON.parse(line) as ChainRecord).seq);

describe.skipIf(!canMount)('the decision log on a full disk', { timeout: 60_000 }, () => {
  it('refuses the action with ENOSPC, keeps the file whole and the records in order, and writes them all once there is room', async () => {
    const { dir, grow } = disk(16);
    const path = join(dir, 'decisions.jsonl');
    const log = new FileDecisionLog(path, { syncIntervalMs: 10 });
    let refused: unknown;
    for (let i = 1; i < 1000 && refused === undefined; i++) {
      const seq = log.record(entry(i, 'write'));
      try {
        log.beforeAction(seq);
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toMatchObject({ errno: 'ENOSPC', message: expect.stringContaining('cannot be written (ENOSPC)') });
    expect(log.problem).toMatch(/cannot be written \(ENOSPC\); 1 records wait/);
    const onDisk = readFileSync(path, 'utf8');
    // The write that did not fit left nothing behind: the file ends at a whole, verifiable record.
    expect(onDisk.endsWith('\n')).toBe(true);
    expect(verifyLog(onDisk)).toMatchObject({ ok: true, records: log.count - 1 });
    // Records go on (reads need not wait); a write asks again and is refused again.
    for (let i = 0; i < 5; i++) log.record(entry(1000 + i, 'read'));
    expect(() => log.beforeAction(log.record(entry(2000, 'write')))).toThrow(expect.objectContaining({ errno: 'ENOSPC' }));
    const made = log.count;

    grow(1024);
    await until(() => log.problem === undefined, 'the log to write what waited once the disk grew');
    const text = readFileSync(path, 'utf8');
    expect(verifyLog(text)).toEqual({ ok: true, records: made, head: log.head });
    expect(seqsOf(text)).toEqual(Array.from({ length: made }, (_, i) => i + 1));
    log.close();
  });

  it('agentd: evaluate answers 503 ENOSPC and /readyz says why, then both recover by themselves', async () => {
    const { agentd, grow } = await agentdOnDisk(32);
    try {
      const ask = asking(agentd);
      let answer = await ask(0);
      for (let i = 1; answer.status === 200 && i < 2000; i++) answer = await ask(i);
      expect(answer).toMatchObject({ status: 503, body: { errno: 'ENOSPC', error: expect.stringContaining('could not be recorded') } });
      expect(await agentd.api('GET', '/readyz')).toMatchObject({ status: 503, body: { ready: false, error: expect.stringContaining('cannot be written (ENOSPC)') } });
      expect((await agentd.api('GET', '/healthz')).status).toBe(200);

      grow(4096);
      await until(async () => (await agentd.api('GET', '/readyz')).status === 200, 'agentd to be ready again once the disk grew');
      expect(await ask(5000)).toMatchObject({ status: 200, body: { decision: 'allow' } });
      expect(await agentd.api('POST', '/v1/audit/verify')).toMatchObject({ status: 200, body: { ok: true } });
      expect(await agentd.stop()).toEqual({ status: 0, signal: null });
    } finally {
      await agentd.remove();
    }
  });

  // Found by an attacker pass: with the log refusing records (EIO, past 16 MiB waiting), a policy replacement, an
  // autonomy change and a new credential took effect with no record (each answered 500 or 503), and the refusals'
  // window summary threw that EIO from its timer and ended agentd.
  it('agentd: once the log refuses records, operator acts change nothing and refusals do not end it', async () => {
    const { agentd, grow } = await agentdOnDisk(64, '', 'refusals: { window_ms: 300 }\n');
    try {
      const big = { action: 'file.read', resource: `/${'r'.repeat(4000)}`, access: 'read', arguments: { a: 'y'.repeat(1000), b: 'y'.repeat(1000), c: 'y'.repeat(1000) } };
      let refused: { status: number; body: unknown } | undefined;
      for (let round = 0; refused === undefined && round < 200; round++) {
        const answers = await Promise.all(Array.from({ length: 32 }, (_, i) => agentd.api('POST', '/v1/evaluate', { ...big, agent: `filler${i}` })));
        refused = answers.find((a) => JSON.stringify(a.body).includes('nothing more is decided'));
      }
      expect(refused).toMatchObject({ status: 503, body: { errno: 'EIO' } });

      const version = (await agentd.api('GET', '/v1/policy')).body.version as string;
      expect((await agentd.api('PUT', '/v1/policy', { source: 'version: 1\nrules:\n  - { id: all, effect: allow, syscalls: ["*"] }\n' })).status).toBe(503);
      expect((await agentd.api('GET', '/v1/policy')).body.version).toBe(version);
      expect((await agentd.api('PUT', '/v1/agents/victim/autonomy', { level: 'observe' })).status).toBeGreaterThanOrEqual(500);
      expect((await agentd.api('GET', '/v1/agents/victim/autonomy')).body).toMatchObject({ level: 'full' });
      expect((await agentd.api('POST', '/v1/principals', { agent: 'ghost' })).status).toBeGreaterThanOrEqual(500);
      expect((await agentd.api('GET', '/v1/principals')).body).toEqual([]);

      for (let i = 0; i < 3; i++) expect((await fetch(`${agentd.url}/v1/processes`)).status).toBe(401);
      await new Promise((r) => setTimeout(r, 1000));
      expect((await agentd.api('GET', '/healthz')).status).toBe(200);

      grow(65536);
      await until(async () => (await agentd.api('GET', '/readyz')).status === 200, 'agentd to be ready again once the disk grew');
      expect(await agentd.api('POST', '/v1/audit/verify')).toMatchObject({ status: 200, body: { ok: true } });
      expect(await agentd.stop()).toEqual({ status: 0, signal: null });
    } finally {
      await agentd.remove();
    }
  });

  // Found by a review of that fix: a durable log numbers a record before it writes it, so the record of an act the
  // full disk refused was written once there was room, and the log said the policy had been replaced.
  it('agentd with a durable log: an act refused on a full disk is followed in the log by a record that it was not applied', async () => {
    const { agentd, logFile, grow } = await agentdOnDisk(64, ', durable: true');
    try {
      const ask = asking(agentd);
      let answer = await ask(0);
      for (let i = 1; answer.status === 200 && i < 2000; i++) answer = await ask(i);
      expect(answer.status).toBe(503);
      const version = (await agentd.api('GET', '/v1/policy')).body.version as string;
      expect((await agentd.api('PUT', '/v1/policy', { source: 'version: 1\nrules:\n  - { id: all, effect: allow, syscalls: ["*"] }\n' })).status).toBe(503);
      expect((await agentd.api('GET', '/v1/policy')).body.version).toBe(version);
      // The shadow and a credential, the same way: refused, nothing changed, and the log says so once it can.
      expect((await agentd.api('PUT', '/v1/policy/shadow', { source: 'version: 1\nrules:\n  - { id: none, effect: deny, syscalls: ["*"] }\n' })).status).toBe(503);
      expect((await agentd.api('GET', '/v1/policy/shadow')).status).toBe(404);
      expect((await agentd.api('POST', '/v1/principals', { agent: 'ghost', name: 'ghost' })).status).toBeGreaterThanOrEqual(500);
      expect((await agentd.api('GET', '/v1/principals')).body).toEqual([]);

      grow(4096);
      await until(async () => (await agentd.api('GET', '/readyz')).status === 200, 'agentd to be ready again once the disk grew');
      const details = readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { detail?: string }).detail ?? '');
      const policyRecords = details.filter((d) => d.includes('policy replaced'));
      expect(policyRecords).toEqual([expect.stringMatching(/^policy replaced: /), expect.stringMatching(/^not applied: policy replaced: .*could not be written/)]);
      // Each act's own record is followed by the record that it was not applied (a durable log writes both once there is room).
      expect(details.filter((d) => d.includes('shadow policy set'))).toEqual([expect.stringMatching(/^shadow policy set: /), expect.stringMatching(/^not applied: shadow policy set: .*could not be written/)]);
      expect(details.filter((d) => d.includes('credential ghost'))).toEqual([expect.stringMatching(/^credential ghost for agent ghost created/), expect.stringMatching(/^not applied: credential ghost for agent ghost created.*could not be written/)]);
      // ghost was never usable: its record says so, and agentd holds no such credential after the disk grew.
      expect((await agentd.api('GET', '/v1/principals')).body).toEqual([]);
      expect(await agentd.api('POST', '/v1/audit/verify')).toMatchObject({ status: 200, body: { ok: true } });
    } finally {
      await agentd.remove();
    }
  });

  it('agentctl run --log onto a full disk ends, the agent ended by the ENOSPC of its write', async () => {
    const { dir } = disk(8);
    writeFileSync(join(dir, 'filler'), Buffer.alloc(8 * 1024 - 1));
    const program = join(tmpdir(), `disk-full-${process.pid}.js`);
    // Printing and exiting are write-access calls too, refused as well while the log cannot be written: the error ends the agent.
    writeFileSync(program, "sys.writeFile('mem/working/x', 'x');\n");
    try {
      const result = await ctl(undefined, ['run', '--log', join(dir, 'decisions.jsonl'), program]).done;
      expect(result).toMatchObject({ status: 1, signal: null });
      expect(result.stderr).toMatch(/^SyscallError: decision log .* cannot be written \(ENOSPC\); \d+ records wait: the action is refused until they are written\n/);
      expect(result.stderr).toMatch(/decision log .* cannot be written \(ENOSPC\); \d+ records wait; closing without them/);
    } finally {
      rmSync(program, { force: true });
    }
  });
});
