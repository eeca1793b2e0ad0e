/**
 * The write-then-execute guard: content an agent wrote into its VFS is never
 * executed by a tool (an argument the tool declares in `executes`) unless a
 * policy rule names the flow with `allow_flows: [vfs-to-exec]`.
 */
import { describe, expect, it } from 'vitest';
import { parsePolicy, PolicyError } from '../../kernel/policy/load.ts';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandTool } from '../../kernel/tools/command-tool.ts';
import { ToolRegistry, type ToolSpec } from '../../kernel/tools/registry.ts';
import { Sandbox, SANDBOX_DEFAULTS } from '../../kernel/tools/sandbox.ts';
import { sandboxHost } from '../../kernel/tools/sandbox-host.ts';
import { fingerprints, WriteTracker } from '../../kernel/tools/write-tracker.ts';
import { syscallRecords } from '../syscalls/harness.ts';
import { until } from '../until.ts';
import { execReport, policy, toolKernel, TRY } from './helpers.ts';

/** A real code-executing tool: node evaluates `code` from the JSON on its stdin (in the command-tool sandbox). */
const EVAL = "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const a=JSON.parse(s);process.stdout.write(String(eval(a.code)))})";
const COMMAND = [process.execPath, '-e', EVAL];

function jsEval(): ToolSpec {
  return commandTool({
    name: 'js.eval',
    description: 'evaluates JavaScript on the host',
    command: COMMAND,
    sandbox: Sandbox.prepare({ host: sandboxHost(), command: COMMAND, cwd: dirname(fileURLToPath(import.meta.url)), settings: { ...SANDBOX_DEFAULTS, readOnly: [] } }),
    inputSchema: { type: 'object', required: ['code'], properties: { code: { type: 'string' }, label: { type: 'string' } }, additionalProperties: false },
    risk: 'critical',
    timeoutMs: 10_000,
    maxOutputBytes: 4096,
    executes: ['code'],
  });
}

const RUN = '{ id: run-code, effect: allow, syscalls: [SYS_EXEC], tools: [js.eval] }';
const RUN_WITH_FLOW = '{ id: run-notes, effect: allow, syscalls: [SYS_EXEC], tools: [js.eval], allow_flows: [vfs-to-exec] }';
const FILES = "{ id: files, effect: allow, syscalls: [SYS_OPEN, SYS_UNLINK], paths: ['/agent/${agent}/**'] }";
const SCRIPT = "['from', 'the', 'vfs'].join(' ') + ': ' + (6 * 7)";

function kernel(...rules: string[]) {
  const registry = new ToolRegistry();
  registry.register(jsEval());
  return toolKernel({ policy: policy(FILES, ...rules), registry });
}

describe('vfs-to-exec', () => {
  it('code the agent made in memory runs; the same code written to its VFS first is EACCES', async () => {
    const k = kernel(RUN);
    const value = await execReport(k, `${TRY}
      const script = ${JSON.stringify(SCRIPT)};
      const fresh = tryExec('js.eval', { code: script });
      sys.writeFile('mem/working/tool.js', script);
      const written = tryExec('js.eval', { code: sys.readFile('mem/working/tool.js') });
      const asLabel = tryExec('js.eval', { code: '1 + 1', label: script });
      report({ fresh: fresh.stdout, written, asLabel: asLabel.stdout });
    `);
    expect(value).toEqual({
      fresh: 'from the vfs: 42',
      written: { errno: 'EACCES', message: 'SYS_EXEC denied by flow:vfs-to-exec: rule run-code matches but does not name allow_flows: [vfs-to-exec]' },
      asLabel: '2',
    });
    expect(syscallRecords(k, 'SYS_EXEC').map((r) => [r.effect, r.rule])).toEqual([['allow', 'run-code'], ['deny', 'flow:vfs-to-exec'], ['allow', 'run-code']]);
  });

  it('catches a script written a byte at a time, a line of a larger file, reformatted whitespace, and a file still open', async () => {
    const k = kernel(RUN);
    const value = await execReport(k, `${TRY}
      const script = ${JSON.stringify(SCRIPT)};
      const fd = sys.open('mem/working/bytes.js', 'w');
      for (const ch of script) sys.write(fd, ch);
      sys.close(fd);
      sys.writeFile('mem/semantic/notes.md', '# notes\\nsome prose about the day\\nprocess.exit(3)\\nmore prose that is long enough to matter here\\n');
      const open = sys.open('mem/working/open.js', 'w');
      sys.write(open, 'globalThis.leaked = "kept open while executed"');
      report([
        tryExec('js.eval', { code: script }).errno,
        tryExec('js.eval', { code: 'process.exit(3)' }).errno,
        tryExec('js.eval', { code: script.replaceAll(' ', '  \\n ') }).errno,
        tryExec('js.eval', { code: '1; globalThis.leaked = "kept open while executed"; 2' }).errno,
        tryExec('js.eval', { code: '"short"' }).stdout,
      ]);
    `);
    expect(value).toEqual(['EACCES', 'EACCES', 'EACCES', 'EACCES', 'short']);
  });

  it('follows the agent, not the process: a later process of the same agent, and content already in its tree', async () => {
    const k = kernel(RUN);
    await execReport(k, `sys.writeFile('mem/working/plan.js', ${JSON.stringify(JSON.stringify(SCRIPT))}); report(0);`, 'writer');
    const later = await execReport(k, `${TRY}report(tryExec('js.eval', { code: ${JSON.stringify(SCRIPT)} }).errno);`, 'writer');
    expect(later).toBe('EACCES');
    const other = await execReport(k, `${TRY}report(tryExec('js.eval', { code: ${JSON.stringify(SCRIPT)} }).stdout);`, 'someone-else');
    expect(other).toBe('from the vfs: 42');
    // Content put in a tree before any tracking (as a restored checkpoint is) is found by the first check.
    const k2 = kernel(RUN);
    const tree = k2.vfs('restored');
    await tree.ready;
    const { file } = await tree.open('/agent/restored/mem/working/old.js', 'w');
    await file.write(new TextEncoder().encode(SCRIPT), 0);
    await file.close();
    expect(await execReport(k2, `${TRY}report(tryExec('js.eval', { code: ${JSON.stringify(SCRIPT)} }).errno);`, 'restored')).toBe('EACCES');
  });

  it('a rule naming allow_flows: [vfs-to-exec] lets the flow through, and is the rule on the record', async () => {
    const k = kernel(RUN, RUN_WITH_FLOW);
    const value = await execReport(k, `${TRY}
      sys.writeFile('mem/working/tool.js', ${JSON.stringify(SCRIPT)});
      report(tryExec('js.eval', { code: sys.readFile('mem/working/tool.js') }).stdout);
    `);
    expect(value).toBe('from the vfs: 42');
    expect(syscallRecords(k, 'SYS_EXEC').map((r) => [r.effect, r.rule])).toEqual([['allow', 'run-notes']]);
  });

  it('deny rules still deny a flow; require_approval rules need allow_flows too', async () => {
    const k = kernel(RUN_WITH_FLOW, '{ id: never-eval, effect: deny, syscalls: [SYS_EXEC], tools: [js.eval], args: [{ arg: code, contains: "exit" }] }');
    const value = await execReport(k, `${TRY}
      sys.writeFile('mem/working/x.js', 'process.exit(1) // long enough');
      report(tryExec('js.eval', { code: 'process.exit(1) // long enough' }).message);
    `);
    expect(value).toBe('SYS_EXEC denied by never-eval: denied by rule never-eval');
    expect(() => parsePolicy('version: 1\nrules:\n  - { id: d, effect: deny, allow_flows: [vfs-to-exec] }\n', 'p.yaml')).toThrow(PolicyError);
    expect(() => parsePolicy('version: 1\nrules:\n  - { id: d, effect: deny, allow_flows: [vfs-to-exec] }\n', 'p.yaml')).toThrow(/rules\[0\]\.allow_flows: only allow and require_approval rules/);
    expect(() => parsePolicy('version: 1\nrules:\n  - { id: a, effect: allow, allow_flows: [net-to-exec] }\n', 'p.yaml')).toThrow(/allow_flows\[0\]: must be one of vfs-to-exec/);
  });
});

describe('WriteTracker', () => {
  const prose = 'The quick brown fox jumps over the lazy dog while the kernel records every decision it makes.';

  it('finds any shared run of 23 or more characters, anywhere in either text', () => {
    const t = new WriteTracker();
    t.add(`${'a'.repeat(500)}${prose}${'b'.repeat(500)}`);
    for (let start = 0; start + 23 <= prose.length; start += 7) {
      expect(t.wrote(`zzz ${prose.slice(start, start + 23)} yyy`), `run at ${start}`).toBe(true);
    }
    expect(t.wrote('An unrelated sentence about something else entirely.')).toBe(false);
  });

  it('matches whole short contents and lines of 8 or more characters, ignoring whitespace', () => {
    const t = new WriteTracker();
    t.add('rm -rf /');
    t.add('first line\nshutdown -h now\nend');
    expect(t.wrote('  rm   -rf /\n')).toBe(true);
    expect(t.wrote('echo hi\nshutdown  -h now\n')).toBe(true);
    expect(t.wrote('end')).toBe(false);
    expect(t.wrote('rm -rf /tmp/x')).toBe(false);
  });

  it('fails closed once saturated, and while content is pending', async () => {
    const t = new WriteTracker();
    let release!: () => void;
    t.pendingUntil(new Promise<void>((r) => (release = r)));
    expect(t.wrote('anything at all')).toBe(true);
    release();
    await until(() => !t.wrote('anything at all'), 'the pending content to be in');
    expect(fingerprints('')).toHaveLength(0);
  });
});
