/**
 * A decision log whose record carries an argument nested 200,000 deep (400 KB, under the line cap) and a correct
 * chain: the candidate's argument pattern read it by recursion (JSON.stringify) and the replay ended with "LOG:
 * Maximum call stack size exceeded", naming no line (an attacker pass). The record is refused, naming its line and
 * field.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { agentctl } from '../research/agentctl.ts';

const dir = mkdtempSync(join(tmpdir(), 'zz-deep-req-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const H = (c: string) => c.repeat(64);

it('names the log line of a record whose argument nests too deep', async () => {
  const depth = 200_000;
  const start = `{"seq":1,"time":1796681340049,"type":"policy","pid":0,"agent":"kernel","policy":"sha256:${H('b')}","detail":"kernel started with policy sha256:${H('b')}: rule limits counted here, from zero; contract counters from zero","prev":"${H('0')}","hash":"${H('1')}"}`;
  const call = `{"seq":2,"time":1796681340369,"type":"syscall","pid":1,"agent":"agent-1","syscall":"SYS_MKDIR","access":"write","path":"/x","req":{"args":{"path":"/x","x":${'['.repeat(depth)}${']'.repeat(depth)}}},"decision":"allow","rule":"r","reason":"allowed by rule r","policy":"sha256:${H('b')}","prev":"${H('1')}","hash":"${H('2')}"}`;
  writeFileSync(join(dir, 'log.jsonl'), `${start}\n${call}\n`);
  writeFileSync(join(dir, 'p.yaml'), 'version: 1\nrules:\n  - id: x\n    effect: allow\n    syscalls: [SYS_MKDIR]\n    args: [{arg: x, glob: "*"}]\n');
  const r = await agentctl(['replay', 'log.jsonl', '--policy', 'p.yaml'], { cwd: dir });
  expect(r.code).toBe(2);
  expect(r.stderr).not.toMatch(/Maximum call stack/);
  expect(r.stderr).toMatch(/log\.jsonl:2/);
}, 30_000);
