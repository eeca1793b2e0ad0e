/**
 * Anchors: the chain head signed with Ed25519 into the log. A log rewritten
 * with every hash recomputed verifies as a chain, and is caught by its
 * anchors (`agentctl audit verify --pubkey`): an edit before an anchor
 * breaks that anchor's signature, anchors dropped leave none, another key
 * verifies none. agentd makes its key pair in its state dir, anchors while it
 * runs and once more as it stops.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Anchorer } from '../../kernel/recorder/anchors.ts';
import { body, type ChainRecord, GENESIS, seal } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { verifyLogFile } from '../../kernel/recorder/verify-file.ts';
import type { DecisionInput } from '../../syscalls/records.ts';
import { startAgentd } from '../service/helpers.ts';
import { agentctl, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const keys = generateKeyPairSync('ed25519');
const pubFile = files.write('anchor.pub', keys.publicKey.export({ type: 'spki', format: 'pem' }).toString());

const entry = (i: number): DecisionInput => ({ type: 'syscall', pid: 1, agentId: 'a', syscall: 'SYS_WRITE', access: 'write', effect: 'allow', rule: 'r', reason: `write ${i}`, args: { i } });

/** anchoredLog writes 10 records, an anchor, 5 more, an anchor, 3 more: 20 records, anchors at 11 and 17. */
function anchoredLog(name: string): string {
  const path = join(files.dir, name);
  const log = new FileDecisionLog(path);
  const anchorer = new Anchorer(log, keys.privateKey, 0);
  for (let i = 1; i <= 10; i++) log.record(entry(i));
  anchorer.anchor();
  for (let i = 11; i <= 15; i++) log.record(entry(i));
  anchorer.anchor();
  for (let i = 16; i <= 18; i++) log.record(entry(i));
  log.close();
  return path;
}

/** rewrite edits the records of a log as `edit` says (undefined drops one) and recomputes every seq and hash: what someone with write access to the file could do. */
function rewrite(path: string, edit: (r: ChainRecord) => ChainRecord | undefined): void {
  const records = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ChainRecord);
  let prev = GENESIS;
  let seq = 0;
  const out: string[] = [];
  for (const original of records) {
    const edited = edit(original);
    if (edited === undefined) continue;
    const { hash: _hash, ...fields } = edited;
    const sealed = seal(body({ ...fields, seq: ++seq, prev }));
    prev = sealed.hash;
    out.push(sealed.line);
  }
  writeFileSync(path, out.join(''));
}

describe('anchors', () => {
  it('a log with anchors verifies with the key, naming what the anchors cover', async () => {
    const path = anchoredLog('good.jsonl');
    expect(verifyLogFile(path, { publicKey: keys.publicKey })).toMatchObject({ ok: true, records: 20, anchors: 2, anchoredThrough: 16, unanchored: 3 });
    const cli = await agentctl(['audit', 'verify', path, '--pubkey', pubFile]);
    expect(cli.status).toBe(0);
    expect(cli.stdout).toMatch(/^ok: 20 records verify; head [0-9a-f]{64}; 2 anchors verify, through record 16 \(the 3 after it rest on the chain alone\)\n$/);
  });

  it('a record rewritten with every hash recomputed passes as a chain and fails at the anchor after it', async () => {
    const path = anchoredLog('rewritten.jsonl');
    rewrite(path, (r) => (r.seq === 5 ? { ...r, decision: 'deny' } : r));
    expect(verifyLogFile(path)).toMatchObject({ ok: true, records: 20 });
    expect(verifyLogFile(path, { publicKey: keys.publicKey })).toMatchObject({ ok: false, problem: { kind: 'bad-anchor', seq: 11 } });
    const cli = await agentctl(['audit', 'verify', path, '--pubkey', pubFile]);
    expect(cli).toMatchObject({ status: 1, stdout: expect.stringMatching(/^FAILED at seq 11: record 11 is an anchor that does not verify with the key for record 10: the log before it was rewritten, or the anchor forged\n/) });
  });

  it('anchors dropped from a rewritten log leave none: unanchored; another key verifies none', () => {
    const path = anchoredLog('dropped.jsonl');
    rewrite(path, (r) => (r.type === 'log' ? undefined : r));
    expect(verifyLogFile(path)).toMatchObject({ ok: true, records: 18 });
    expect(verifyLogFile(path, { publicKey: keys.publicKey })).toMatchObject({ ok: false, problem: { kind: 'unanchored' } });
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(verifyLogFile(anchoredLog('other-key.jsonl'), { publicKey: other })).toMatchObject({ ok: false, problem: { kind: 'bad-anchor', seq: 11 } });
  });

  it('a key file that is not an Ed25519 public key is refused with status 2, naming the file', async () => {
    const path = anchoredLog('any.jsonl');
    const rsa = files.write('rsa.pub', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(await agentctl(['audit', 'verify', path, '--pubkey', rsa])).toMatchObject({ status: 2, stderr: `agentctl: ${rsa}: an rsa key, not Ed25519\n` });
    const junk = files.write('junk.pub', 'not a key\n');
    expect(await agentctl(['audit', 'verify', path, '--pubkey', junk])).toMatchObject({ status: 2, stderr: expect.stringContaining(`agentctl: ${junk}: not a PEM public key`) });
  });

  it('agentd makes its key pair in its state dir (the private key 0600), anchors as it runs and as it stops', async () => {
    const agentd = await startAgentd('log: { anchor_ms: 50 }\n');
    try {
      for (let i = 0; i < 20; i++) await agentd.api('POST', '/v1/evaluate', { agent: 'ext', action: 'file.read', resource: `/data/${i}` });
      expect(statSync(join(agentd.stateDir, 'anchor.key')).mode & 0o777).toBe(0o600);
      expect(await agentd.stop()).toEqual({ status: 0, signal: null });
      const result = verifyLogFile(agentd.logFile, { publicKey: keys.publicKey });
      expect(result).toMatchObject({ ok: false, problem: { kind: 'bad-anchor' } });
      const own = await agentctl(['audit', 'verify', agentd.logFile, '--pubkey', join(agentd.stateDir, 'anchor.pub'), '--json']);
      const verified = JSON.parse(own.stdout) as { ok: boolean; records: number; anchors: number; anchoredThrough: number; unanchored: number };
      expect(verified.ok).toBe(true);
      expect(verified.anchors).toBeGreaterThanOrEqual(1);
      // The last record is the anchor agentd wrote as it stopped: it covers everything before it, and none rests on the
      // chain alone (the README says so; verify counted the anchor's own record until a newcomer pass caught it).
      expect(verified.anchoredThrough).toBe(verified.records - 1);
      expect(verified.unanchored).toBe(0);
      const text = await agentctl(['audit', 'verify', agentd.logFile, '--pubkey', join(agentd.stateDir, 'anchor.pub')]);
      expect(text.stdout).toMatch(/anchors verify, through record \d+\n$/);
    } finally {
      await agentd.remove();
    }
  });
});
