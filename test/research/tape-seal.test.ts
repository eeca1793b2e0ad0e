/**
 * A recorded run's seal (kernel/run-tape/tape-seal.ts): the recorder seals
 * what it wrote, signed with an Ed25519 key when given one, and a replay
 * refuses a tape or policy changed since, a seal rewritten after it was
 * signed, and (with --verify-key) a seal not signed with the key named.
 * Before seals, a tape edited before a replay was replayed as written.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordingTape } from '../../kernel/run-tape/boundary-tape.ts';
import { TAPE_FORMAT, TAPE_VERSION } from '../../kernel/run-tape/events.ts';
import { TapeWriter } from '../../kernel/run-tape/tape-file.ts';
import { readTape } from '../../kernel/run-tape/tape-read.ts';
import { checkSeal, parseSeal, SEAL_FILE, sealingKey, verifyingKey } from '../../kernel/run-tape/tape-seal.ts';
import { agentctl as run } from './agentctl.ts';

const dir = mkdtempSync(join(tmpdir(), 'tape-seal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = { format: TAPE_FORMAT, version: TAPE_VERSION, program: { path: '/p.ts', hash: 'h' }, argv: [], env: {}, manifest: {}, policyVersion: 'v', started: 0, limits: { heapMib: 64 } } as const;
const signer = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');

/** record writes a three-call tape into `name`, its seal signed with `key` if given; returns its folder. */
function record(name: string, key?: typeof signer.privateKey): string {
  const at = join(dir, name);
  const writer = new TapeWriter(at, 'version: 1\nrules: []\n', undefined, key);
  writer.start(HEADER);
  const tape = new RecordingTape(writer);
  for (let i = 0; i < 3; i++) tape.call('blocking', 0, 8, []).answered({ t: 'value', v: 100 + i });
  expect(writer.close({ k: 'x', status: 0, reason: 'exit' })).toBeUndefined();
  return at;
}

/** edit rewrites `file` in `at` with `change` applied to its text. */
function edit(at: string, file: string, change: (text: string) => string): void {
  const path = join(at, file);
  writeFileSync(path, change(readFileSync(path, 'utf8')));
}

/** verdict reads `at` back and checks its seal (the tape's file is let go either way). */
function verdict(at: string, required?: typeof signer.publicKey) {
  const tape = readTape(at);
  try {
    return checkSeal(tape, required);
  } finally {
    tape.close();
  }
}

describe('a recorded run is sealed', () => {
  it('the recorder seals what it wrote; a replay finds the files as sealed', () => {
    const at = record('plain');
    const seal = parseSeal(SEAL_FILE, readFileSync(join(at, SEAL_FILE), 'utf8'));
    expect(seal.tape.bytes).toBe(readFileSync(join(at, 'tape.jsonl')).length);
    expect(seal.signed).toBeUndefined();
    expect(verdict(at)).toEqual({ sealed: true, signed: false });
  });

  it('a tape or policy changed after the run is refused, naming the file', () => {
    const tape = record('edited-tape');
    // The same length and still a well-formed tape: only the seal can tell.
    edit(tape, 'tape.jsonl', (t) => t.replace('"v":101', '"v":109'));
    expect(() => verdict(tape)).toThrow(/tape\.jsonl does not match its seal: it changed after the run was recorded/);
    const policy = record('edited-policy');
    edit(policy, 'policy.yaml', (t) => t.replace('rules: []', 'rules: [] '));
    expect(() => verdict(policy)).toThrow(/policy\.yaml does not match its seal/);
  });

  it("a signed seal is checked against its own key, and --verify-key's key must be the signer", () => {
    const at = record('signed', signer.privateKey);
    expect(verdict(at)).toMatchObject({ sealed: true, signed: true, key: expect.stringMatching(/^ed25519:[0-9a-f]{16}$/) });
    expect(verdict(at, signer.publicKey)).toMatchObject({ signed: true });
    expect(() => verdict(at, stranger.publicKey)).toThrow(/signed by the key ed25519:[0-9a-f]{16}, not by ed25519:/);
    // Whoever edits the tape and writes the new digest into the seal cannot sign it again.
    edit(at, 'tape.jsonl', (t) => t.replace('"v":101', '"v":109'));
    const edited = readTape(at);
    edited.close();
    edit(at, SEAL_FILE, (t) => t.replace(/"sha256": "[0-9a-f]{64}"/, `"sha256": "${edited.tapeSha256}"`));
    expect(() => verdict(at)).toThrow(/its signature does not verify: the seal was changed after it was signed/);
    // Nor pass it off as unsigned when a signature is required.
    edit(at, SEAL_FILE, (t) => JSON.stringify({ ...JSON.parse(t), signed: undefined }));
    expect(verdict(at)).toEqual({ sealed: true, signed: false });
    expect(() => verdict(at, signer.publicKey)).toThrow(/not signed, and a signature by the key ed25519:[0-9a-f]{16} is required/);
  });

  it('a tape without a seal replays as written, unless a signature is required', () => {
    const at = record('unsealed');
    rmSync(join(at, SEAL_FILE));
    expect(verdict(at)).toEqual({ sealed: false });
    expect(() => verdict(at, signer.publicKey)).toThrow(/not sealed \(no seal\.json\), so no signature can vouch for it/);
  });

  it('a seal file that is not one is refused, naming the field', () => {
    const good = { format: 'agent-kernel-run-seal', version: 1, tape: { sha256: 'a'.repeat(64), bytes: 1 }, policy: { sha256: 'b'.repeat(64) } };
    const cases: [unknown, RegExp][] = [
      ['not json', /s\.json: \(file\): not JSON/],
      [{ ...good, version: 2 }, /version: must be 1/],
      [{ ...good, tape: { sha256: 'A'.repeat(64), bytes: 1 } }, /tape\.sha256: must be 64 lowercase hex digits/],
      [{ ...good, tape: { sha256: 'a'.repeat(64), bytes: -1 } }, /tape\.bytes: must be a whole number/],
      [{ ...good, policy: {} }, /policy\.sha256/],
      [{ ...good, signed: { algorithm: 'rsa', publicKey: 'AA==', signature: 'AA==' } }, /signed\.algorithm: must be 'ed25519'/],
      [{ ...good, signed: { algorithm: 'ed25519', publicKey: 'not base64!', signature: 'AA==' } }, /signed\.publicKey: must be base64/],
    ];
    for (const [value, error] of cases) expect(() => parseSeal('s.json', typeof value === 'string' ? value : JSON.stringify(value))).toThrow(error);
  });

  it('never records into a folder that has a seal already, and leaves nothing of its own there', () => {
    const at = join(dir, 'taken');
    mkdirSync(at);
    writeFileSync(join(at, SEAL_FILE), '{}');
    expect(() => new TapeWriter(at, 'version: 1\nrules: []\n')).toThrow(/already has a seal\.json: record into a new directory/);
    expect(() => readFileSync(join(at, 'tape.jsonl'))).toThrow(/ENOENT/);
    expect(() => readFileSync(join(at, 'policy.yaml'))).toThrow(/ENOENT/);
  });
});

describe('what is replayed is what was checked (found by the attacker pass over the seal)', () => {
  it('a tape changed after its check, even put back before the end, changes nothing replayed: events come from a private copy', () => {
    const at = join(dir, 'copied');
    const writer = new TapeWriter(at, 'version: 1\nrules: []\n');
    writer.start(HEADER);
    const tape = new RecordingTape(writer);
    tape.call('blocking', 0, 8, []).answered({ t: 'value', v: 101 });
    // A call that waits: its reply is a line of its own, which the replay looks up where the check found it.
    const waited = tape.call('blocking', 0, 8, []);
    waited.waiting!();
    waited.answered({ t: 'value', v: 202 });
    writer.close({ k: 'x', status: 0, reason: 'exit' });
    const read = readTape(at);
    try {
      expect(checkSeal(read)).toEqual({ sealed: true, signed: false });
      // The same length, still well formed: before, the waiting call's reply was read from the tape itself, unhashed, and the
      // other events were used before the last chunk's hash was compared.
      edit(at, 'tape.jsonl', (t) => t.replace('"v":101', '"v":109').replace('"v":202', '"v":209'));
      const events = [...read.events()];
      expect(events.filter((e) => e.k === 'c').map((e) => (e as { r: unknown }).r)).toEqual([{ t: 'value', v: 101 }, { t: 'value', v: 202 }]);
      expect(events.some((e) => e.k === 'cut')).toBe(false);
    } finally {
      read.close();
    }
  });

  it('a FIFO, a device or an oversized file in place of a seal, tape or policy is refused at once (a FIFO hung the replay, /dev/zero grew it without bound)', () => {
    const base = record('special');
    const cases: [string, (path: string) => void, RegExp][] = [
      [SEAL_FILE, (path) => execFileSync('mkfifo', [path]), /seal\.json: not a regular file/],
      [SEAL_FILE, (path) => symlinkSync('/dev/zero', path), /seal\.json: not a regular file/],
      [SEAL_FILE, (path) => writeFileSync(path, ' '.repeat(20_000)), /seal\.json: 20000 bytes, larger than any seal/],
      ['tape.jsonl', (path) => execFileSync('mkfifo', [path]), /tape\.jsonl: not a regular file/],
      ['policy.yaml', (path) => execFileSync('mkfifo', [path]), /policy\.yaml: not a regular file/],
    ];
    cases.forEach(([file, make, error], i) => {
      const at = join(dir, `special-${i}`);
      cpSync(base, at, { recursive: true });
      rmSync(join(at, file));
      make(join(at, file));
      expect(() => verdict(at)).toThrow(error);
    });
  });
});

describe('agentctl run --seal-key and agentctl replay-run --verify-key', () => {
  const key = join(dir, 'key.pem');
  const pub = join(dir, 'pub.pem');
  const other = join(dir, 'other.pem');
  writeFileSync(key, signer.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(pub, signer.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(other, stranger.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'agent.ts'), "console.log('drew', Math.random() < 2, 'at', typeof Date.now());\n");
  const agentctl = (args: readonly string[]) => run(args, { cwd: dir });

  it('a signed recording replays under its key, and under no other; an edit is refused before anything runs', async () => {
    const recorded = await agentctl(['run', '--record', 'runs/signed', '--seal-key', key, 'agent.ts']);
    expect(recorded.stderr).toBe('');
    expect(recorded.code).toBe(0);
    const replayed = await agentctl(['replay-run', 'runs/signed', '--verify-key', pub, '--json']);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain('drew true at number');
    expect(JSON.parse(replayed.stdout.trim().split('\n').at(-1)!).seal).toMatchObject({ sealed: true, signed: true });
    const otherKey = await agentctl(['replay-run', 'runs/signed', '--verify-key', other]);
    expect(otherKey.code).toBe(2);
    expect(otherKey.stderr).toMatch(/seal\.json: signed by the key ed25519:[0-9a-f]{16}, not by ed25519:[0-9a-f]{16}\n$/);
    expect(otherKey.stdout).toBe('');
    edit(join(dir, 'runs/signed'), 'tape.jsonl', (t) => t.replace('drew true', 'drew fals'));
    const edited = await agentctl(['replay-run', 'runs/signed']);
    expect(edited.code).toBe(2);
    expect(edited.stderr).toMatch(/runs\/signed\/tape\.jsonl does not match its seal: it changed after the run was recorded/);
    expect(edited.stdout).toBe('');
  });

  it('a signed recording replays only the program it names: another at the recorded path is refused unless --program names it', async () => {
    writeFileSync(join(dir, 'named.ts'), "console.log('as recorded');\n");
    expect((await agentctl(['run', '--record', 'runs/named', '--seal-key', key, 'named.ts'])).code).toBe(0);
    writeFileSync(join(dir, 'named.ts'), "console.log('as recorded');\nconsole.log('added since');\n");
    const swapped = await agentctl(['replay-run', 'runs/named', '--verify-key', pub, '--fork-at', '0']);
    expect(swapped.code).toBe(2);
    expect(swapped.stdout).toBe('');
    expect(swapped.stderr).toMatch(/named\.ts: not the program that was recorded \(its build has another hash\).*give --program FILE/);
    const named = await agentctl(['replay-run', 'runs/named', '--verify-key', pub, '--program', 'named.ts', '--fork-at', '0']);
    expect(named.stdout).toBe('as recorded\nadded since\n');
  });

  it('refuses a key that is not Ed25519, and --seal-key without --record, before the run', async () => {
    const rsa = join(dir, 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const wrongKey = await agentctl(['run', '--record', 'runs/rsa', '--seal-key', rsa, 'agent.ts']);
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.stderr).toMatch(/rsa\.pem: a key of type rsa, not an Ed25519 private key/);
    expect(() => readFileSync(join(dir, 'runs/rsa/tape.jsonl'))).toThrow(/ENOENT/);
    const encrypted = join(dir, 'encrypted.pem');
    writeFileSync(encrypted, generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' } }).privateKey);
    expect(() => sealingKey(encrypted)).toThrow(/encrypted\.pem: an encrypted key; give an unencrypted one/);
    expect(() => verifyingKey(encrypted)).toThrow(/encrypted\.pem: an encrypted key/);
    const noRecord = await agentctl(['run', '--seal-key', key, 'agent.ts']);
    expect(noRecord.code).toBe(2);
    expect(noRecord.stderr).toBe('agentctl: --seal-key signs a recording: give --record DIR too\n');
  });
});
