/**
 * LogScans, agentd's log reader off the event loop, with real worker threads
 * on real files: answers as the in-process readers do; a bounded number of
 * scans run and wait (then EAGAIN); a cancelled scan stops (EINTR) and its
 * worker goes; a missing log is ENOENT; a worker that runs out of heap
 * fails only its own scan; close refuses what is left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { queryLog } from '../../kernel/recorder/log-query.ts';
import { verifyLogFile } from '../../kernel/recorder/verify-file.ts';
import { LogScans } from '../../kernel/service/log-scans.ts';

const dir = mkdtempSync(join(tmpdir(), 'log-scans-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A log big enough that verifying it takes a noticeable time (~25 MB). */
const base = join(dir, 'decisions.jsonl');
beforeAll(() => {
  const log = new FileDecisionLog(base, { segmentBytes: 8 << 20 });
  for (let i = 1; i <= 60_000; i++) {
    const agentId = `agent-${i % 7}`;
    log.record({ type: 'syscall', pid: i % 7, agentId, syscall: 'SYS_OPEN', access: 'write', effect: i % 5 === 0 ? 'deny' : 'allow', rule: 'r', reason: 'because', policyVersion: 'sha256:p', path: `/agent/${agentId}/mem/${i}`, args: { i } });
  }
  log.close();
}, 60_000);

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (err: { errno?: string }) => err.errno,
  );

describe('LogScans', () => {
  it('verifies and queries in a worker with the answers of the readers it runs', async () => {
    const scans = new LogScans();
    try {
      const [verified, found] = await Promise.all([scans.run({ op: 'verify', base }), scans.run({ op: 'query', base, filter: { agent: 'agent-3', decision: 'deny' }, limit: 10, maxChars: 1 << 20 })]);
      expect(verified).toEqual(verifyLogFile(base));
      const expected = queryLog(base, { agent: 'agent-3', decision: 'deny' }, { limit: 10, maxChars: 1 << 20 });
      expect(found).toEqual({ json: `[${expected.lines.join(',')}]`, records: 10, truncated: false });
    } finally {
      await scans.close();
    }
  });

  it('runs at most `workers` scans and queues `queue` more; the next is refused with EAGAIN', async () => {
    const scans = new LogScans({ workers: 1, queue: 1 });
    try {
      const running = scans.run({ op: 'verify', base });
      const waiting = scans.run({ op: 'verify', base });
      expect(await code(scans.run({ op: 'verify', base }))).toBe('EAGAIN');
      expect(await code(running)).toBe('resolved');
      expect(await code(waiting)).toBe('resolved');
    } finally {
      await scans.close();
    }
  });

  it('a scan whose signal aborts stops at once (EINTR), running or waiting, and the next one runs', async () => {
    const scans = new LogScans({ workers: 1 });
    try {
      const running = new AbortController();
      const waiting = new AbortController();
      const first = scans.run({ op: 'verify', base }, running.signal);
      const second = scans.run({ op: 'verify', base }, waiting.signal);
      waiting.abort();
      running.abort();
      // EINTR, not an answer: the abort settled both before the running scan (of a 25 MB log) could finish.
      expect([await code(first), await code(second)]).toEqual(['EINTR', 'EINTR']);
      expect((await scans.run({ op: 'verify', base })).ok).toBe(true);
    } finally {
      await scans.close();
    }
  });

  it('a log that is not there is ENOENT', async () => {
    const scans = new LogScans();
    try {
      expect(await code(scans.run({ op: 'verify', base: join(dir, 'nope.jsonl') }))).toBe('ENOENT');
    } finally {
      await scans.close();
    }
  });

  it('a worker that runs out of heap fails only its own scan (EIO)', async () => {
    const scans = new LogScans({ heapMib: 16 });
    try {
      const huge = scans.run({ op: 'query', base, filter: {}, limit: 100_000, maxChars: 1 << 30 });
      await expect(huge).rejects.toMatchObject({ errno: 'EIO' });
      expect((await scans.run({ op: 'query', base, filter: {}, limit: 1, maxChars: 1 << 20 })).records).toBe(1);
    } finally {
      await scans.close();
    }
  });

  it('close fails what runs and waits, and refuses new scans', async () => {
    const scans = new LogScans({ workers: 1 });
    const running = code(scans.run({ op: 'verify', base }));
    const waiting = code(scans.run({ op: 'verify', base }));
    await scans.close();
    expect([await running, await waiting, await code(scans.run({ op: 'verify', base }))]).toEqual(['EAGAIN', 'EAGAIN', 'EAGAIN']);
  });
});
