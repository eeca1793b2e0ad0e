/**
 * Found by a review (fixed): kernel/run-tape/tape-check.ts refuses any tape line nested deeper than MAX_TAPE_NESTING (1000) as "an edited
 * tape", but nothing bounds how deep a recorded reply may be: a command tool with `output: json` (or llm.chat, an MCP
 * server) that answers 1,200 nested arrays is recorded as it is, and the honest, unedited recording of that run
 * cannot be replayed: replay-run exits 2 calling it edited. (Objects with `$` keys, which the codec wraps in {"$o":…},
 * count two levels each, so a reply half as deep does it too.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { agentctl } from '../research/agentctl.ts';

const dir = mkdtempSync(join(tmpdir(), 'zz-honest-deep-tape-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('replays the unedited recording of a run whose tool answered a deeply nested (1,200) value', async () => {
  writeFileSync(join(dir, 'deep.js'), "process.stdout.write('['.repeat(1200) + ']'.repeat(1200));\n");
  writeFileSync(join(dir, 'tools.yaml'), ['tools:', '  commands:', '    deep.json:', `      command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(dir, 'deep.js'))}]`, '      description: a deep answer', '      input_schema: { type: object }', '      output: json', '      risk: low', ''].join('\n'));
  writeFileSync(join(dir, 'manifest.yaml'), 'id: deep\ncapabilities: ["tool:deep.json"]\n');
  writeFileSync(join(dir, 'policy.yaml'), 'version: 1\nrules:\n  - { id: self, effect: allow, syscalls: [SYS_GETPID, SYS_TIMER, SYS_CANCEL, SYS_RANDOM, SYS_WRITE, SYS_READ, SYS_CLOSE, SYS_EXIT, SYS_SIGACTION, SYS_WAIT] }\n  - { id: tools, effect: allow, tools: [deep.json] }\n');
  writeFileSync(join(dir, 'agent.js'), 'const r = sys.exec("deep.json", {}); let d = 0, v = r.output; while (Array.isArray(v) && v.length) { v = v[0]; d++; } console.log("depth", d);\n');
  const recorded = await agentctl(['run', '--record', 'rec', '--manifest', 'manifest.yaml', '--policy', 'policy.yaml', '--tools', 'tools.yaml', 'agent.js'], { cwd: dir });
  expect(recorded.code).toBe(0);
  expect(recorded.stdout).toMatch(/depth 1199/);
  const replayed = await agentctl(['replay-run', 'rec'], { cwd: dir });
  expect(replayed.stderr).not.toMatch(/an edited tape/);
  expect(replayed.code).toBe(0);
}, 30_000);
