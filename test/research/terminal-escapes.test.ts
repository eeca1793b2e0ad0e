/**
 * What the research commands print of text an agent or a tape chose (found
 * by an attacker pass: each reached the operator's terminal raw, so a path
 * or a tape could set the window title, clear the screen or fake a line):
 * replay's changes and tables, replay-run's divergences and its tape
 * checker's complaints, an experiment's table of adversarial programs. Each
 * is escaped as terminal-text.ts does (`\x1b`), nothing raw left.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentctl as run, REPO, type Outcome } from './agentctl.ts';

const dir = mkdtempSync(join(tmpdir(), 'terminal-escapes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const agentctl = (args: readonly string[]): Promise<Outcome> => run(args, { cwd: dir, timeoutMs: 60_000 });

/** The escapes an attacker hides in a name: set the window title, ring, clear the screen. */
const HOSTILE = '\u001b]0;PWNED\u0007\u001b[2J';
const ESCAPED = '\\x1b]0;PWNED\\x07\\x1b[2J';

/** raw: control characters a terminal acts on (a line's end aside), left in what agentctl printed. */
const raw = (out: Outcome): boolean => [...out.stdout, ...out.stderr].some((c) => c !== '\n' && (c < ' ' || c === '\u007f'));

/** copyOf writes an unsealed copy of recording `from` as `to`, its tape's lines edited. */
function copyOf(from: string, to: string, edit: (lines: Record<string, unknown>[]) => void): void {
  const lines = readFileSync(join(dir, from, 'tape.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  edit(lines);
  mkdirSync(join(dir, to));
  writeFileSync(join(dir, to, 'policy.yaml'), readFileSync(join(dir, from, 'policy.yaml')));
  writeFileSync(join(dir, to, 'tape.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
}

describe('text an agent or a tape chose reaches the terminal escaped', () => {
  it('agentctl replay: a path in the changes, and what a bad record says', async () => {
    writeFileSync(join(dir, 'mkdir.ts'), `import fs from 'node:fs';\nfs.mkdirSync('/agent/agent-1/mem/x${HOSTILE.replaceAll('\u001b', '\\u001b').replaceAll('\u0007', '\\u0007')}', { recursive: true });\n`);
    const ran = await agentctl(['run', 'mkdir.ts', '--log', 'log.jsonl', '--policy', join(REPO, 'examples/policies/notes.yaml')]);
    expect(ran.code).toBe(0);
    const replayed = await agentctl(['replay', 'log.jsonl', '--policy', join(REPO, 'examples/policies/notes-readonly.yaml')]);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain(`SYS_MKDIR /agent/agent-1/mem/x${ESCAPED}`);
    expect(raw(replayed)).toBe(false);
    // A record without its question: the refusal quotes its syscall and rule.
    const records = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const asked = records.find((r) => r.type === 'syscall')!;
    delete asked.req;
    asked.rule = `own${HOSTILE}`;
    writeFileSync(join(dir, 'bad-log.jsonl'), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const refused = await agentctl(['replay', 'bad-log.jsonl', '--policy', join(REPO, 'examples/policies/notes-readonly.yaml')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`rule own${ESCAPED}) does not carry the question`);
    expect(raw(refused)).toBe(false);
  });

  it('agentctl replay-run: a divergence at an end, or at a fault, says the tape\'s text escaped; so does a tape the checker refuses', async () => {
    expect((await agentctl(['run', '--record', 'made', join(REPO, 'examples/notes.ts'), '--policy', join(REPO, 'examples/policies/notes.yaml'), '--', 'milk'])).code).toBe(0);
    copyOf('made', 'end', (lines) => void (lines.at(-1)!.reason = `exit${HOSTILE}`));
    const end = await agentctl(['replay-run', 'end']);
    expect(end.code).toBe(1);
    expect(end.stderr).toContain(`recorded: the end of the run (status 0, exit${ESCAPED})`);
    expect(raw(end)).toBe(false);
    // The verdict's divergence is the same text with --json (a reader of its fields, jq -r say, gets no raw escapes either).
    const json = await agentctl(['replay-run', 'end', '--json']);
    expect((JSON.parse(json.stdout.slice(json.stdout.lastIndexOf('\n{') + 1)) as { divergence: { recorded: string } }).divergence.recorded).toContain(`exit${ESCAPED}`);
    copyOf('made', 'fault', (lines) => void (lines.find((l) => l.k === 'c')!.r = { t: 'fault', errno: `EIO${HOSTILE}`, message: HOSTILE }));
    const fault = await agentctl(['replay-run', 'fault']);
    expect(fault.code).toBe(1);
    expect(fault.stderr).toContain(`recorded: call #1 answered EIO${ESCAPED} (${ESCAPED})`);
    expect(raw(fault)).toBe(false);
    copyOf('made', 'version', (lines) => void (lines[0]!.version = HOSTILE));
    const version = await agentctl(['replay-run', 'version']);
    expect(version.code).toBe(2);
    expect(version.stderr).toContain(`tape.jsonl:1: version: ${JSON.stringify(HOSTILE)} is not one`);
    expect(raw(version)).toBe(false);
  });

  it('agentctl experiment run: an adversarial program\'s file name in the table', async () => {
    mkdirSync(join(dir, 'adv'));
    writeFileSync(join(dir, 'adv', `a${HOSTILE}.js`), 'console.log(1);\n');
    writeFileSync(join(dir, 'exp.yaml'), `name: escapes\nadversarial: adv/\npolicies: { notes: ${join(REPO, 'examples/policies/notes.yaml')} }\n`);
    const ran = await agentctl(['experiment', 'run', 'exp.yaml', '--out', 'exp-out']);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`adv/a${ESCAPED}.js  notes`);
    expect(raw(ran)).toBe(false);
  });
});
