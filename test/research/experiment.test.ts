/**
 * Experiments end to end: `agentctl experiment run` on the example (the notes
 * agent and four hostile programs under two policies, twice), as a real
 * child process: results.jsonl, the terminal table, each run a replayable
 * recording, bad experiment files refused with file, line and field; and
 * the report in a real headless browser (Debian's Chromium, through
 * playwright-core): it loads with no console error, draws its five charts
 * (pixels on every canvas), and a screenshot of it is taken.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl as run, REPO, type Outcome } from './agentctl.ts';

const EXAMPLE = join(REPO, 'examples', 'experiments', 'notes.yaml');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'experiment-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** agentctl runs `agentctl ...args` in the test's folder. */
const agentctl = (args: readonly string[]): Promise<Outcome> => run(args, { cwd: dir, timeoutMs: 120_000 });

interface Cell {
  id: string;
  program: string;
  policy: string;
  outcome: string;
  status: number;
  reason: string;
  calls: number;
  decisions: Record<string, number>;
  signals: Record<string, number>;
  violations: number;
  latency: Record<string, number[]>;
  tape: string;
}

/** bad runs an experiment file of `source` and expects a one-line refusal matching `message`, status 2. */
async function bad(source: string, message: RegExp, outDir = join(dir, 'never')): Promise<void> {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, source);
  const r = await agentctl(['experiment', 'run', file, '--out', outDir]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
}

describe('agentctl experiment run', () => {
  const out = join(dir, 'out');
  let ran: Outcome;
  let cells: Cell[];
  beforeAll(async () => {
    ran = await agentctl(['experiment', 'run', EXAMPLE, '--out', out]);
    cells = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Cell);
  }, 120_000);

  it('runs every program under every policy, twice, and says what each run did', () => {
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(cells).toHaveLength(5 * 2 * 2);
    const one = (id: string) => cells.find((c) => c.id === id)!;
    expect(one('notes/notes/1')).toMatchObject({ outcome: 'ok', status: 0 });
    expect(one('notes/notes/1').decisions.deny).toBe(0);
    expect(one('notes/readonly/1')).toMatchObject({ outcome: 'failed' });
    expect(one('notes/readonly/1').decisions.deny).toBeGreaterThan(0);
    expect(one('adv/read-checkpoints.ts/notes/1')).toMatchObject({ outcome: 'killed', status: 136, violations: 1, signals: { SIGPOLICY: 1 } });
    expect(one('adv/spin.ts/notes/2')).toMatchObject({ outcome: 'killed', status: 132, signals: { SIGKILL: 1 } });
    // The experiment's limits are the cells' kernel limits: the flood meets its syscalls_per_second (1,000), on any machine.
    expect(one('adv/syscall-flood.ts/readonly/1').reason).toBe('exit');
    expect(one('adv/syscall-flood.ts/readonly/1').calls).toBeLessThan(1100);
    expect(one('adv/escape-tree.ts/notes/1').decisions.deny).toBe(4);
    expect(Object.keys(one('notes/notes/1').latency)).toContain('SYS_OPEN');
    // The terminal table: a row a program and policy.
    const rows = ran.stdout.split('\n');
    expect(rows[0]).toMatch(/^PROGRAM\s+POLICY\s+RUNS\s+OK\s+FAILED\s+KILLED\s+MEDIAN MS/);
    expect(rows.find((r) => r.startsWith('adv/read-checkpoints.ts  notes'))).toMatch(/\s2\s+0\s+0\s+2\s+/);
    expect(ran.stdout).toContain(`report:  ${join(out, 'report.html')}`);
  });

  it('records every run: a run replays from its folder', async () => {
    const cell = cells.find((c) => c.id === 'notes/notes/2')!;
    const replayed = await agentctl(['replay-run', join(out, cell.tape)]);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain('2 notes in /agent/agent-1/mem/episodic/notes:');
    expect(replayed.stderr).toMatch(/followed all \d+ calls/);
    // A run the policy killed during a call (SIGPOLICY) replays to the same end: the kill comes before the program sees the reply.
    const killed = await agentctl(['replay-run', join(out, cells.find((c) => c.id === 'adv/read-checkpoints.ts/notes/1')!.tape)]);
    expect(killed.code).toBe(0);
    expect(killed.stderr).toMatch(/followed the 1 call; ended with status 136 \(SIGPOLICY/);
  }, 60_000);

  it('opens the report in a headless Chromium: no console errors, five charts drawn, a screenshot', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: .ci/run installs Debian's chromium`).toBe(true);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
      page.on('pageerror', (e) => void errors.push(String(e)));
      page.on('request', (r) => void (r.url().startsWith('file:') || requests.push(r.url())));
      await page.goto(pathToFileURL(join(out, 'report.html')).href);
      await page.waitForSelector('body[data-charts="5"]', { timeout: 15_000 });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      // Every chart drew: its canvas has thousands of painted pixels.
      const painted = await page.$$eval('canvas', (canvases) =>
        canvases.map((c) => {
          const { data } = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
          let n = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
          return [c.id, n] as const;
        }),
      );
      expect(painted.map(([id]) => id)).toEqual(['outcomes', 'rules', 'violations', 'latency', 'tokens']);
      for (const [id, n] of painted) expect(n, `pixels painted on ${id}`).toBeGreaterThan(2000);
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      const png = readFileSync(shot);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(statSync(shot).size).toBeGreaterThan(50_000);
      expect(await page.title()).toBe('Experiment notes-policies');
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('gives each run a folder of its own: programs a and a_b under policies b_c and c made a_b_c_1 twice (the second run could not record, its result named the first\'s tape)', async () => {
    const hello = join(REPO, 'examples', 'hello.ts');
    const policies = { b_c: join(REPO, 'examples', 'policies', 'notes.yaml'), c: join(REPO, 'examples', 'policies', 'notes-readonly.yaml') };
    const file = join(dir, 'clash.yaml');
    writeFileSync(file, `name: clash\nprograms: { a: ${hello}, a_b: ${hello} }\npolicies: { b_c: ${policies.b_c}, c: ${policies.c} }\n`);
    const clashOut = join(dir, 'clash-out');
    const r = await agentctl(['experiment', 'run', file, '--out', clashOut]);
    expect(r.code).toBe(0);
    const runs = readFileSync(join(clashOut, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Cell);
    expect(runs.map((c) => c.id).toSorted()).toEqual(['a/b_c/1', 'a/c/1', 'a_b/b_c/1', 'a_b/c/1']);
    expect(new Set(runs.map((c) => c.tape)).size).toBe(4);
    for (const c of runs) {
      expect(c.reason, c.id).not.toMatch(/could not run/);
      // Each result's tape is its own run's: recorded under its policy.
      expect(readFileSync(join(clashOut, c.tape, 'policy.yaml'), 'utf8'), c.id).toBe(readFileSync(policies[c.policy as keyof typeof policies], 'utf8'));
    }
    expect(runs.find((c) => c.id === 'a_b/c/1')!.tape).toBe(join('cells', '0004-a_b_c_1'));
  }, 60_000);

  it('refuses a bad experiment in one line naming file, line and field; and a folder that is not new', async () => {
    await bad('name: x\npolicies: { a: nowhere.yaml }\nprograms: { p: nowhere.ts }\n', /bad\.yaml:3:\d+: programs\.p: no such file: nowhere\.ts/);
    await bad('name: x\npolicies: { a: nowhere.yaml }\ncolour: red\n', /bad\.yaml:3:1: colour: is not a known field/);
    await bad('name: x\npolicies: { a: nowhere.yaml }\nlimits: { wall_ms: 100, cpu: 5 }\n', /bad\.yaml:3:\d+: limits\.cpu: is not a known field/);
    await bad('name: x\npolicies: { a: nowhere.yaml }\nlimits: { heap_mib: 100000 }\n', /bad\.yaml:3:\d+: limits\.heap_mib: must be <= \d+/);
    await bad(`name: x\nprograms: { p: ${join(REPO, 'examples', 'hello.ts')} }\npolicies: { a: ${join(REPO, 'examples', 'policies', 'notes.yaml')} }\nrepetitions: 0\n`, /bad\.yaml:4:\d+: repetitions: must be >= 1/);
    await bad(`name: x\nprograms: { p: ${join(REPO, 'examples', 'hello.ts')} }\npolicies: { a: ${join(REPO, 'examples', 'policies', 'notes.yaml')} }\n`, /is not empty; write an experiment into a new folder/, out);
  }, 60_000);
});
