/**
 * The log_bytes_per_second limit: the bytes of decision records a tree's
 * calls add to a log file each second. A record keeps a path of up to 4 KiB
 * and arguments in the clear, so the syscall rate alone let one agent write
 * ~20 MB/s. Past the limit a call gets EAGAIN; what counts is every byte the
 * log grew by during a call (the records of the children it kills included),
 * and the records made later for it (kernel/lineage.ts meter, recordFor).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { exited, IDLE, kernelFor, printed, start } from '../live-agents.ts';
import { until } from '../until.ts';

describe('log_bytes_per_second', () => {
  it('logBytesPerSecond: past the bytes of decision records its tree may add to the log in a second, a call gets EAGAIN (a record keeps a 4 KiB path: the rate alone let one agent write ~20 MB/s)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-bytes-'));
    const log = new FileDecisionLog(join(dir, 'decisions.jsonl'));
    const kernel = kernelFor({ recorder: log });
    try {
      // 3,600 bytes of 3-byte characters: counted as bytes written, not characters (a review: 2.4× the limit got through).
      const path = `/agent/flood/${Array.from({ length: 15 }, () => '中'.repeat(80)).join('/')}`;
      const flood = start(
        kernel,
        `
          const results = [];
          for (let i = 0; i < 40; i++) { const r = syscall(SYS.SYS_STAT, ${JSON.stringify(path)}); results.push(r.errno === 'EAGAIN' ? r.message : 'ok'); }
          // Wait out the one-second window without a syscall (the write of the report would be refused too), then report.
          const t = Date.now();
          while (Date.now() - t < 1100) {}
          console.log(JSON.stringify(results));
        `,
        { limits: { logBytesPerSecond: 20_000 }, agentId: 'flood' },
      );
      const end = await exited(flood);
      expect(end, JSON.stringify(end)).toMatchObject({ status: 0 });
      const results = JSON.parse(flood.stdout()) as string[];
      // Each record holds the 3.6 KB path: a few fit in 20,000 bytes, and the calls after them are refused.
      const answered = results.filter((r) => r === 'ok').length;
      expect(answered).toBeGreaterThanOrEqual(2);
      expect(answered).toBeLessThanOrEqual(6);
      expect(results.slice(answered)).toEqual(results.slice(answered).map(() => 'decision log limit of 20000 bytes per second reached'));
      await kernel.shutdown();
      log.close();
      const records = readFileSync(join(dir, 'decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { agent: string; rule?: string; reason?: string });
      expect(records.filter((r) => r.agent === 'flood' && r.rule === 'limit.log_bytes_per_second').map((r) => r.reason)).toEqual([`more than 20000 bytes of decision records this second (the tree of pid ${flood.pid})`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** LoggedRecord is a record of the file log, with its size as written. */
  type LoggedRecord = { type: string; agent: string; pid: number; bytes: number };

  /**
   * countedKills runs `source` as agent `agentId` with a file log until it prints 'done' (`meanwhile` runs first), and
   * gives what its tree's usage counted of the log (logBytes) and the log's records.
   */
  async function countedKills(source: string, agentId: string, meanwhile: (agent: ReturnType<typeof start>, kernel: Kernel) => Promise<void> = async () => {}): Promise<{ counted: number; pid: number; records: LoggedRecord[] }> {
    const dir = mkdtempSync(join(tmpdir(), 'log-bytes-'));
    const log = new FileDecisionLog(join(dir, 'decisions.jsonl'));
    const kernel = kernelFor({ recorder: log, programs: { idle: programFromSource('idle.js', IDLE) } });
    try {
      const agent = start(kernel, `${source} console.log('done'); await new Promise(() => {});`, { agentId });
      await meanwhile(agent, kernel);
      await printed(agent, 'done');
      const counted = kernel.usage(agent.proc).logBytes;
      await kernel.shutdown();
      log.close();
      const lines = readFileSync(join(dir, 'decisions.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
      return { counted, pid: agent.pid, records: lines.map((l) => ({ ...(JSON.parse(l) as Omit<LoggedRecord, 'bytes'>), bytes: Buffer.byteLength(l) + 1 })) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const sum = (rs: readonly LoggedRecord[]) => rs.reduce((n, r) => n + r.bytes, 0);

  it("a tree's log bytes count what its calls did to others: the signal and exit records of the children it kills (a review found them uncounted)", async () => {
    const { counted, pid, records } = await countedKills(`for (let i = 0; i < 20; i++) { const pid = sys.spawn('idle'); sys.kill(pid, 'SIGKILL'); sys.wait(pid); }`, 'killer');
    // Every signal and exit record of a killed child is in the count, with the calls' own records.
    const signalsAndExits = records.filter((r) => r.agent === 'killer' && r.pid !== pid && (r.type === 'signal' || r.type === 'exit'));
    expect(signalsAndExits).toHaveLength(40);
    const calls = records.filter((r) => r.agent === 'killer' && (r.type === 'syscall' || r.type === 'outcome'));
    expect(counted).toBeGreaterThanOrEqual(sum(signalsAndExits) + sum(calls));
    // And nothing that is not the tree's.
    expect(counted).toBeLessThanOrEqual(sum(records.filter((r) => r.agent === 'killer')));
  });

  it('a call parked while its process is stopped is metered when it runs: the records of the child it kills count too (a review found them uncounted)', async () => {
    const { counted, pid, records } = await countedKills(`const kid = sys.spawn('idle'); sys.kill(sys.pid, 'SIGSTOP'); sys.kill(kid, 'SIGKILL'); sys.wait(kid);`, 'stopper', async (agent, kernel) => {
      await until(() => agent.proc.stopped, 'the agent to stop itself');
      expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    });
    const kidEnd = records.filter((r) => r.agent === 'stopper' && r.pid !== pid && (r.type === 'signal' || r.type === 'exit'));
    expect(kidEnd).toHaveLength(2);
    const calls = records.filter((r) => r.agent === 'stopper' && r.pid === pid && (r.type === 'syscall' || r.type === 'outcome'));
    expect(counted).toBeGreaterThanOrEqual(sum([...kidEnd, ...calls]));
  });
});
