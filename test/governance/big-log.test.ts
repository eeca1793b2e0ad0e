/**
 * agentctl on a decision log of tens of megabytes: `audit verify` and
 * `audit show` read it in chunks, so their peak RSS (measured in the child
 * by a preloaded module) grows by far less than the file.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import type { DecisionInput } from '../../syscalls/records.ts';
import { NODE_FLAGS, REPO, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const RECORDS = 130_000;
/**
 * Peak RSS a command may add for this log over the same command on a log of
 * a few records. Streaming adds some 5–15 MiB here (up to 35 on a loaded
 * machine: the young generation grows); reading the 70 MB file whole to
 * verify it added 140.
 */
const GROWTH_MIB = 64;

function entry(i: number): DecisionInput {
  const agentId = `agent-${i % 16}`;
  const path = `/agent/${agentId}/mem/working/notes-${i % 100}.md`;
  return { type: 'syscall', pid: 1 + (i % 16), agentId, syscall: 'SYS_WRITE', access: 'write', effect: i % 9 === 0 ? 'deny' : 'allow', rule: 'own-tree-writes', reason: 'allowed by rule own-tree-writes', policyVersion: `sha256:${'ab'.repeat(32)}`, path, args: { path, data: new Uint8Array(64).fill(i & 255) } };
}

function writeLog(name: string, n: number): { path: string; head: string } {
  const path = files.write(name, '');
  const log = new FileDecisionLog(path);
  for (let i = 1; i <= n; i++) log.record(entry(i));
  const head = log.head;
  log.close();
  return { path, head };
}

interface Measured {
  status: number | null;
  stdout: string;
  /** Bytes and lines written to stdout (counted as they came, not kept). */
  bytes: number;
  lines: number;
  maxRssMib: number;
}

/** measure runs agentctl with `args` and the max-rss preload; stdout is kept only when `keep`. */
function measure(args: readonly string[], keep: boolean): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, '--import', './test/governance/fixtures/max-rss.ts', 'bin/agentctl.ts', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let bytes = 0;
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) lines++;
      if (keep) stdout += chunk.toString('utf8');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => {
      const m = /max-rss (\d+)/.exec(stderr);
      if (m === null) return reject(new Error(`no max-rss from agentctl ${args.join(' ')}: ${stderr}`));
      resolve({ status, stdout, bytes, lines, maxRssMib: Number(m[1]) / 1024 });
    });
  });
}

describe(`agentctl on a log of ${RECORDS} records`, () => {
  let big: { path: string; head: string; bytes: number };
  let small: { path: string; head: string };

  beforeAll(() => {
    big = { ...writeLog('big.jsonl', RECORDS), bytes: 0 };
    big.bytes = statSync(big.path).size;
    small = writeLog('small.jsonl', 10);
  }, 60_000);

  it('is tens of megabytes', () => {
    expect(big.bytes).toBeGreaterThan(40 << 20);
  });

  it(`audit verify checks it all with less than ${GROWTH_MIB} MiB more peak RSS than for a tiny log`, async () => {
    const baseline = await measure(['audit', 'verify', small.path], true);
    const r = await measure(['audit', 'verify', big.path], true);
    expect([r.status, r.stdout]).toEqual([0, `ok: ${RECORDS} records verify; head ${big.head}\n`]);
    expect(r.maxRssMib - baseline.maxRssMib).toBeLessThan(GROWTH_MIB);
  }, 60_000);

  it(`audit show prints every record with less than ${GROWTH_MIB} MiB more peak RSS than for a tiny log`, async () => {
    const baseline = await measure(['audit', 'show', small.path, '--json'], true);
    const r = await measure(['audit', 'show', big.path, '--json'], false);
    expect([r.status, r.lines, r.bytes]).toEqual([0, RECORDS, big.bytes]);
    expect(r.maxRssMib - baseline.maxRssMib).toBeLessThan(GROWTH_MIB);
  }, 60_000);
});
