/**
 * Attack: a decision log whose record carries a deeply nested argument in
 * `req.args` (200,000 levels, 400 KB: under the 1 MiB line cap) is chained
 * correctly (seq and prev are all replay checks without --verify). Under a
 * candidate with an argument pattern on that argument, the engine turns the
 * value into text with JSON.stringify (matchers.ts argText) and overflows the
 * stack; replay's catch-all reports "LOG: Maximum call stack size exceeded",
 * without the line or field at fault (kernel/replay/replay.ts decision() only
 * maps InputError to a ReplayError naming the record).
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
