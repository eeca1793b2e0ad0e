/**
 * kill -9 in the middle of a busy kernel: every complete record verifies,
 * the records run on from seq 1 with nothing lost before the tail, a torn
 * last line (if the kill cut a write) is reported as such, and every write an
 * agent saw succeed is on the record — the log is written before the action.
 * The same around segment rolls: every segment verifies in order, only the
 * last may end torn, and the log reopens in its last segment. And with every
 * effect approved (writes and tool calls): each approved action an agent saw
 * succeed has its request and its approval on file.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { listSegments } from '../../kernel/recorder/segments.ts';
import { verifyLogFile } from '../../kernel/recorder/verify-file.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import { NODE_FLAGS, REPO, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const AGENTS = 3;
/** Progress lines each agent must have printed before the kill. */
const PROGRESS = 200;

interface Killed {
  /** Per agent, the highest n it printed in `wrote <agent> <n>` (the writes it saw succeed). */
  readonly progress: ReadonlyMap<string, number>;
  /** The highest segment index the fixture printed `rolled <index>` for (0: none). */
  readonly rolled: number;
  readonly signal: NodeJS.Signals | null;
}

interface KillAt {
  /** Freeze the host after one agent's `freeze`-th write, then kill. */
  readonly freeze?: number;
  /** Segment size for the log (0: one file). */
  readonly segmentBytes?: number;
  /** Kill once the log has rolled to segment `rolls`; with `freezeRoll` the host freezes right as it opens it. */
  readonly rolls?: number;
  readonly freezeRoll?: boolean;
  /** Every write and tool call needs an approval (granted at once); agents call the time.now tool too. */
  readonly approve?: boolean;
}

/**
 * runAndKill starts the fixture and SIGKILLs it once every agent has made
 * PROGRESS writes or, with `freeze`, once the host froze right after one
 * agent's `freeze`-th write or, with `rolls`, once the log rolled that often.
 */
function runAndKill(log: string, at: KillAt): Promise<Killed> {
  const { freeze = 0, segmentBytes = 0, rolls = 0 } = at;
  return new Promise((resolve, reject) => {
    const args = [...NODE_FLAGS, 'test/governance/fixtures/kill9-kernel.ts', log, String(AGENTS), String(freeze), String(segmentBytes), String(at.freezeRoll ? rolls : 0), at.approve ? 'approve' : 'allow'];
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = () =>
      rolls > 0 ? rolled >= rolls : freeze > 0 ? [...progress.values()].includes(freeze) : progress.size === AGENTS && [...progress.values()].every((n) => n >= PROGRESS);
    const progress = new Map<string, number>();
    let rolled = 0;
    let partial = '';
    let stderr = '';
    let killed = false;
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = /^wrote (\S+) (\d+)$/.exec(line);
        if (m !== null) progress.set(m[1]!, Number(m[2]));
        const r = /^rolled (\d+)$/.exec(line);
        if (r !== null) rolled = Math.max(rolled, Number(r[1]));
      }
      if (!killed && ready()) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    // 'close' fires after stdout is drained: every line the fixture wrote before dying is counted.
    child.on('close', (status, signal) => {
      if (!killed) reject(new Error(`fixture ended by itself (status ${status}): ${stderr}`));
      else resolve({ progress, rolled, signal });
    });
  });
}

// prettier-ignore
describe.each([
  ['at a moment of the test’s choosing', 0],
  ['just after an action took effect, before the host could do anything else', 300],
])('kill -9 during a busy run, %s', (_when, freeze) => {
  const log = join(files.dir, `killed-${freeze}.jsonl`);
  let killed: Killed;
  let text: string;

  beforeAll(async () => {
    killed = await runAndKill(log, { freeze });
    text = readFileSync(log, 'utf8');
  });

  it('the fixture is killed by SIGKILL after every agent has written', () => {
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.progress.size).toBe(AGENTS);
  });

  it('every complete record verifies, from seq 1, contiguous; a torn tail is reported as torn-tail', () => {
    const result = verifyLog(text);
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    const lines = complete.split('\n').slice(0, -1);
    if (!result.ok) {
      expect(result.problem!.kind).toBe('torn-tail');
      expect(result.problem!.line).toBe(lines.length + 1);
      expect(result.problem!.seq).toBe(lines.length + 1);
    }
    expect(result.records).toBe(lines.length);
    expect(verifyLog(complete)).toEqual({ ok: true, records: lines.length, head: result.head });
    const seqs = lines.map((l) => (JSON.parse(l) as ChainRecord).seq);
    expect(seqs).toEqual(Array.from({ length: lines.length }, (_, i) => i + 1));
    // Each progress line stands for four records (open, write, close, write to fd 1).
    const printed = [...killed.progress.values()].reduce((a, b) => a + b, 0);
    expect(lines.length).toBeGreaterThan(4 * printed);
  });

  it('every write an agent saw succeed is on the record: allowed SYS_WRITE and SYS_OPEN records cover its progress', () => {
    const records = text.split('\n').flatMap((l) => {
      try {
        return [JSON.parse(l) as ChainRecord];
      } catch {
        return [];
      }
    });
    for (const [agent, n] of killed.progress) {
      const mine = records.filter((r) => r.agent === agent && r.decision === 'allow');
      const writes = mine.filter((r) => r.syscall === 'SYS_WRITE').length;
      const opens = mine.filter((r) => r.syscall === 'SYS_OPEN' && r.path?.startsWith(`/agent/${agent}/mem/working/f`)).length;
      // Each progress line follows a file write and is itself a write to fd 1: both are recorded before they run.
      expect(writes, agent).toBeGreaterThanOrEqual(2 * n);
      expect(opens, agent).toBeGreaterThanOrEqual(n);
      expect(records.some((r) => r.type === 'spawn' && r.agent === agent)).toBe(true);
    }
  });

  it('a log cut by the kill reopens only if its tail is whole', () => {
    if (verifyLog(text).ok) {
      const reopened = new FileDecisionLog(log);
      expect(reopened.count).toBe(verifyLog(text).records);
      reopened.record({ type: 'signal', pid: 0, agentId: 'kernel', detail: 'recovered after kill -9' });
      reopened.close();
      expect(verifyLog(readFileSync(log, 'utf8')).ok).toBe(true);
    } else {
      expect(() => new FileDecisionLog(log)).toThrow(expect.objectContaining({ errno: 'EIO' }));
    }
  });
});

/** recordsOf parses every complete line of `text`. */
function recordsOf(text: string): ChainRecord[] {
  return text.split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as ChainRecord];
    } catch {
      return [];
    }
  });
}

// prettier-ignore
describe.each([
  ['just after the log opened its 4th segment, before anything was written to it', { segmentBytes: 16 * 1024, rolls: 4, freezeRoll: true }],
  ['at a moment of the test’s choosing while segments of 4 KiB roll every few milliseconds', { segmentBytes: 4 * 1024, rolls: 12 }],
] as const)('kill -9 around a segment roll, %s', (_when, at) => {
  const dir = join(files.dir, `rolls-${at.rolls}`);
  const log = join(dir, 'decisions.jsonl');
  let killed: Killed;
  let texts: string[];

  beforeAll(async () => {
    mkdirSync(dir);
    killed = await runAndKill(log, at);
    texts = listSegments(log).map((s) => readFileSync(s.path, 'utf8'));
  });

  it('the fixture is killed by SIGKILL after the log rolled', () => {
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.rolled).toBeGreaterThanOrEqual(at.rolls);
    expect(listSegments(log).map((s) => s.index)).toEqual(Array.from({ length: texts.length }, (_, i) => i + 1));
    if ('freezeRoll' in at) {
      // Frozen as the segment was opened: it exists and holds nothing yet.
      expect(texts.length).toBe(at.rolls);
      expect(statSync(listSegments(log).at(-1)!.path).size).toBe(0);
    }
  });

  it('every segment verifies in order, seqs contiguous from 1 across them; only the last may end torn', () => {
    const segments = listSegments(log);
    const result = verifyLogFile(log);
    for (const text of texts.slice(0, -1)) expect(text.endsWith('\n')).toBe(true);
    const whole = texts.join('');
    const complete = whole.slice(0, whole.lastIndexOf('\n') + 1);
    const lines = complete.split('\n').slice(0, -1);
    if (!result.ok) {
      expect(result.problem!.kind).toBe('torn-tail');
      expect(result.problem!.segment).toBe(segments.at(-1)!.name);
      expect(result.problem!.seq).toBe(lines.length + 1);
    }
    if ('freezeRoll' in at) expect(result.ok).toBe(true);
    expect(result.records).toBe(lines.length);
    expect(verifyLog(complete)).toEqual({ ok: true, records: lines.length, head: result.head });
    expect(lines.map((l) => (JSON.parse(l) as ChainRecord).seq)).toEqual(Array.from({ length: lines.length }, (_, i) => i + 1));
  });

  it('every write an agent saw succeed is on the record', () => {
    const records = recordsOf(texts.join(''));
    for (const [agent, n] of killed.progress) {
      const writes = records.filter((r) => r.agent === agent && r.decision === 'allow' && r.syscall === 'SYS_WRITE').length;
      expect(writes, agent).toBeGreaterThanOrEqual(2 * n);
    }
  });

  it('a whole log reopens in its last segment and goes on; a torn one is refused', () => {
    const result = verifyLogFile(log);
    const last = listSegments(log).at(-1)!;
    if (!result.ok) {
      expect(() => new FileDecisionLog(log, { segmentBytes: at.segmentBytes })).toThrow(expect.objectContaining({ errno: 'EIO' }));
      return;
    }
    const reopened = new FileDecisionLog(log, { segmentBytes: at.segmentBytes });
    expect([reopened.count, reopened.head, reopened.current.index]).toEqual([result.records, result.head, last.index]);
    reopened.record({ type: 'signal', pid: 0, agentId: 'kernel', detail: 'recovered after kill -9' });
    reopened.close();
    expect(verifyLogFile(log)).toMatchObject({ ok: true, records: result.records + 1, segments: last.index });
  });
});

describe('kill -9 just after an approved action took effect', () => {
  const log = join(files.dir, 'approved.jsonl');
  let killed: Killed;
  let text: string;

  beforeAll(async () => {
    killed = await runAndKill(log, { freeze: 200, approve: true });
    text = readFileSync(log, 'utf8');
  });

  it('every complete record verifies, contiguous from seq 1', () => {
    expect(killed.signal).toBe('SIGKILL');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    const lines = complete.split('\n').slice(0, -1);
    expect(verifyLog(complete)).toMatchObject({ ok: true, records: lines.length });
  });

  it('every approved write and tool call an agent saw succeed has its request and its approval on file', () => {
    const records = recordsOf(text);
    for (const [agent, n] of killed.progress) {
      const mine = records.filter((r) => r.agent === agent);
      const asked = (syscall: string) => mine.filter((r) => r.type === 'syscall' && r.syscall === syscall && r.decision === 'require_approval').length;
      const granted = (what: RegExp) => mine.filter((r) => r.type === 'approval' && what.test(r.detail ?? '')).length;
      // Each progress line follows a file write and a time.now call and is itself a write to fd 1, all approved.
      expect(asked('SYS_WRITE'), agent).toBeGreaterThanOrEqual(2 * n);
      expect(granted(/^granted SYS_WRITE /), agent).toBeGreaterThanOrEqual(2 * n);
      expect(asked('SYS_EXEC'), agent).toBeGreaterThanOrEqual(n);
      expect(granted(/^granted SYS_EXEC time\.now /), agent).toBeGreaterThanOrEqual(n);
    }
  });
});
