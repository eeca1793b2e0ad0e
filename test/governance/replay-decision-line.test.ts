/**
 * Replay reads a decision record without parsing the whole line
 * (kernel/replay/decision-line.ts): what it reads must be what JSON.parse
 * reads, for every line the recorder can write (agent ids and paths with
 * quotes, backslashes and non-ASCII text, arguments named `decision`,
 * records with and without path, args and req), and any line in another
 * shape must be left to JSON.parse. A replay through the fast reader
 * summarises a log exactly as one fed parsed records.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { sealRecord, GENESIS, type ChainRecord } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { decisionLine } from '../../kernel/replay/decision-line.ts';
import { Replayer } from '../../kernel/replay/replay.ts';
import { replayFile } from '../../kernel/replay/sources.ts';
import { scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

/** Strings as agents send them: quotes, backslashes, control characters, non-ASCII, lone surrogates, the keys replay looks for. */
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('"', '\\', '\\"', ',"decision":"allow"', '","rule":"x', '\u0000\n', '\ud800', 'é→☃'));
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const args = fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('decision', 'rule', 'req', '__proto__')), fc.oneof(jsonValue, fc.record({ decision: text, rule: text })), { maxKeys: 4 });

const record = fc.record(
  {
    pid: fc.integer({ min: -5, max: 2 ** 31 }),
    agent: text,
    syscall: fc.oneof(fc.constantFrom('SYS_OPEN', 'SYS_EXEC'), text),
    access: fc.constantFrom('read', 'write', 'none'),
    path: fc.option(text, { nil: undefined }),
    args: fc.option(fc.constant(`sha256:${'a'.repeat(64)}`), { nil: undefined }),
    req: fc.option(fc.record({ labels: fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }), caps: fc.array(text, { maxLength: 3 }), tool: fc.option(text, { nil: undefined }), args }, { requiredKeys: [] }), { nil: undefined }),
    decision: fc.constantFrom('allow', 'deny', 'require_approval'),
    rule: text,
    reason: text,
  },
  { requiredKeys: ['pid', 'agent', 'syscall', 'access', 'decision', 'rule', 'reason'] },
);

/** lineOf is the line the recorder writes for `fields` (without its newline). */
function lineOf(fields: Omit<ChainRecord, 'seq' | 'time' | 'prev' | 'hash' | 'type' | 'policy'>, seq: number, time: number): string {
  return sealRecord({ ...fields, type: 'syscall', policy: `sha256:${'b'.repeat(64)}` } as Omit<ChainRecord, 'seq' | 'time' | 'prev' | 'hash'>, seq, time, GENESIS).line.slice(0, -1);
}

/** at reads a line of seq 3 as replay does. */
const at = (l: string) => decisionLine(l, 3, l.indexOf(',"time":'));

const READ = ['seq', 'time', 'type', 'pid', 'agent', 'syscall', 'access', 'path', 'req', 'decision', 'rule'] as const;

describe('a decision record read without parsing the whole line', () => {
  it('reads what JSON.parse reads, for any record the recorder writes', () => {
    fc.assert(
      fc.property(record, fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: -(2 ** 45), max: 2 ** 45 }), (fields, seq, time) => {
        const line = lineOf(fields, seq, time);
        const fast = decisionLine(line, seq, line.indexOf(',"time":'));
        expect(fast).toBeDefined();
        const full = JSON.parse(line) as Record<string, unknown>;
        for (const key of READ) expect(fast![key], key).toEqual(full[key]);
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves every other shape to JSON.parse', () => {
    const line = lineOf({ pid: 1, agent: 'a', syscall: 'SYS_OPEN', access: 'read', path: '/x', req: { args: { flags: 'r' } }, decision: 'allow', rule: 'r', reason: 'why' }, 3, 5);
    expect(at(line)).toMatchObject({ seq: 3, time: 5, pid: 1, agent: 'a', path: '/x', req: { args: { flags: 'r' } }, rule: 'r' });
    for (const other of [
      line.replace('"type":"syscall"', '"type":"outcome"'),
      line.replace('"pid":1,', ''),
      line.replace('"time":5', '"time":5.5'),
      line.replace('"time":5', '"time":1e3'),
      line.replace('"pid":1', '"pid":"1"'),
      line.replace(',"req":{"args":{"flags":"r"}}', ',"req":{"args":{"flags":"r"}},"extra":1'),
      line.replace('"rule":"r"', '"rule":r'),
      line.replace('"agent":"a"', '"agent":"a\\q"'),
      line.replace(',"decision":"allow"', ''),
      line.replace('"access":"read","path":"/x"', '"path":"/x","access":"read"'),
    ]) {
      expect(at(other), other).toBeUndefined();
    }
  });

  it('a replay through it summarises a log as one fed parsed records does', async () => {
    const policy = parsePolicy(
      'version: 1\nrules:\n  - { id: no-decision-arg, effect: deny, syscalls: [SYS_EXEC], args: [{ arg: decision, equals: "x" }] }\n  - { id: few, effect: allow, syscalls: [SYS_EXEC], limits: { max_calls: 3 } }\n  - { id: files, effect: allow, syscalls: [SYS_OPEN], paths: ["/a/**"] }\n',
      'candidate.yaml',
    );
    const file = join(files.dir, 'fast.jsonl');
    let now = Date.UTC(2026, 0, 5);
    const log = new FileDecisionLog(file, { clock: () => (now += 1000) });
    const agents = ['plain', 'q"uote', 'back\\slash', 'ünï'];
    for (let i = 0; i < 200; i++) {
      const agentId = agents[i % agents.length]!;
      const exec = i % 3 !== 0;
      const request = exec
        ? { agentId, syscall: 'SYS_EXEC', access: 'none' as const, tool: 'x', args: { decision: i % 7 === 0 ? 'x' : 'y', n: i }, labels: { k: `"${i}` } }
        : { agentId, syscall: 'SYS_OPEN', access: 'read' as const, path: i % 2 === 0 ? '/a/"b"' : '/c', args: {} };
      log.record({ type: 'syscall', pid: i, agentId, syscall: request.syscall, access: request.access, effect: 'allow', rule: 'old', reason: 'was allowed', policyVersion: 'sha256:old', path: 'path' in request ? request.path : undefined, args: request.args, asked: request });
    }
    log.close();
    const fast = new Replayer(policy);
    replayFile(file, fast);
    const parsed = new Replayer(policy);
    for (const line of readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')) parsed.feed(JSON.parse(line) as Record<string, unknown>, () => file);
    expect(fast.summary()).toEqual(parsed.summary());
    expect(fast.summary()).toMatchObject({ decisions: 200, replayed: 200 });
    expect(fast.summary().changed).toBeGreaterThan(100);
  });
});
