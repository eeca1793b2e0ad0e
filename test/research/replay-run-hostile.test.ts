/**
 * Recorded runs against what an attacker's pass found (each was reproduced
 * before its fix): what an agent can make a recording cost, tapes that hung
 * or crashed replay-run, and replays that gave the wrong verdict.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentctl as run, type Outcome } from './agentctl.ts';
import { RecordingTape } from '../../kernel/run-tape/boundary-tape.ts';
import { TapeWriter } from '../../kernel/run-tape/tape-file.ts';
import { TAPE_FORMAT, TAPE_VERSION } from '../../kernel/run-tape/events.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** agentctl runs `agentctl ...args` in the test's folder. */
const agentctl = (args: readonly string[], timeoutMs = 30_000): Promise<Outcome> => run(args, { cwd: dir, timeoutMs });

/** first is a tape's first event of kind `k`. */
const first = (events: Record<string, unknown>[], k: string): Record<string, unknown> => events.find((e) => e.k === k)!;

const program = (name: string, source: string): string => {
  writeFileSync(join(dir, name), source);
  return name;
};

describe('what an agent can make a recording cost', () => {
  it('a blocking call that waits holds nothing back: what comes meanwhile is written (a flooding child filled the kernel\'s memory)', () => {
    const at = join(dir, 'held');
    const writer = new TapeWriter(at, 'version: 1\nrules: []\n', 64 * 1024 * 1024);
    writer.start({ format: TAPE_FORMAT, version: TAPE_VERSION, program: { path: 'p', hash: 'h' }, argv: [], env: {}, manifest: {}, policyVersion: 'v', started: 0, limits: {} });
    const tape = new RecordingTape(writer);
    const wait = tape.call('blocking', 0, 16, [2]);
    wait.waiting!();
    const chunk = new Uint8Array(65_536).fill(65);
    for (let i = 0; i < 64; i++) writer.push({ k: 'o', f: 1, d: { $b: Buffer.from(chunk).toString('base64') } });
    // Past 256 KiB queued the writer writes at once, the waiting call's reply still to come.
    expect(statSync(join(at, 'tape.jsonl')).size).toBeGreaterThan(4 * 1024 * 1024);
    wait.answered({ t: 'value', v: { pid: 2, status: 0, signal: null } });
    writer.close({ k: 'x', status: 0, reason: 'exit' });
  });

  it('a tape larger than agentctl\'s heap replays: it is read a chunk at a time (a 256 MiB tape took ~2 GB, the whole of it read at once)', async () => {
    // 80 writes of 512 KiB: a tape of ~100 MB; agentctl's heap is held to 48 MiB (the old reader aborted there).
    const big = program('big.js', "const chunk = 'x'.repeat(512 * 1024);\nfor (let i = 0; i < 80; i++) console.log(chunk);\n");
    const recorded = await agentctl(['run', '--record', 'big-run', big], 60_000);
    expect(recorded.code).toBe(0);
    expect(statSync(join(dir, 'big-run', 'tape.jsonl')).size).toBeGreaterThan(90 * 1024 * 1024);
    const replayed = await run(['replay-run', 'big-run', '--json'], { cwd: dir, timeoutMs: 60_000, node: ['--max-old-space-size=48'] });
    expect(replayed.signal).toBeNull();
    expect(JSON.parse(replayed.stdout.slice(replayed.stdout.lastIndexOf('\n{') + 1))).toMatchObject({ recordedCalls: 80, calls: 80, end: { status: 0 } });
    expect(replayed.code).toBe(0);
    rmSync(join(dir, 'big-run'), { recursive: true });
  }, 120_000);

  it('reading the clock is kernel work the agent pays for: a Date.now() loop meets its CPU limit (it ran forever under --record)', async () => {
    const out = await agentctl(['run', '--record', 'clock', '--cpu-ms', '500', program('clock.ts', 'for (;;) Date.now();')]);
    expect(out.code).toBe(132);
    expect(out.stderr).toMatch(/killed by SIGKILL \(CPU time limit 500 ms/);
  });
});

/** limit is an edit of a tape's header: its limit `name` set to `value`. */
const limit = (name: string, value: unknown) => (events: Record<string, unknown>[]) => void ((events[0]!.limits as Record<string, unknown>)[name] = value);

/** outputLine is a tape's line for `text` written to fd 1. */
const outputLine = (text: string): string => JSON.stringify({ k: 'o', f: 1, d: { $b: Buffer.from(text).toString('base64') } });

const file = (name: string, text: string): string => (writeFileSync(join(dir, name), text), name);

describe('a candidate policy judges as the kernel would have (found by an attacker pass: each passed a run the candidate denies)', () => {
  const ALLOW = '  - { id: all, effect: allow, syscalls: ["*"] }\n';

  it('a call that waited is judged when it was decided, not when its reply came: a rate the child\'s call shares holds', async () => {
    // The child's getpid and the root's wait (decided at once, answered 1.5 s later) are two calls within a second.
    const rate = '  - { id: paced, effect: allow, syscalls: [SYS_GETPID, SYS_WAIT], limits: { rate: { count: 1, per: second } } }\n';
    const prog = program('rate.js', "sys.writeFile('child.js', 'sys.getpid(); await new Promise((r) => setTimeout(r, 1500));');\nconst pid = sys.spawn('child.js');\nawait new Promise((r) => setTimeout(r, 300));\nconsole.log('ended', sys.wait(pid).status);\n");
    expect((await agentctl(['run', '--record', 'rate-run', '--policy', file('allow.yaml', `version: 1\nrules:\n${ALLOW}`), prog])).code).toBe(0);
    const replayed = await agentctl(['replay-run', 'rate-run', '--policy', file('paced.yaml', `version: 1\nrules:\n${rate}${ALLOW}`)]);
    expect(replayed.code).toBe(3);
    expect(replayed.stderr).toMatch(/would have stopped the run at call #\d+, SYS_WAIT: deny by paced \(limit: rate 1 per second exceeded\)/);
  });

  it('the root\'s calls are judged with the trust the agent had (its child\'s refused reads lowered it), and a version 1 tape does not pass its children unjudged', async () => {
    const prog = program('trust.js', "sys.writeFile('c.js', 'for (let i = 0; i < 3; i++) { try { sys.readFile(\"/agent/someone-else/x\"); } catch {} }');\nsys.wait(sys.spawn('c.js'));\nconsole.log('pid', sys.getpid());\n");
    expect((await agentctl(['run', '--record', 'trust-run', prog])).code).toBe(0);
    const doubt = file('doubt.yaml', `version: 1\nrules:\n  - { id: low-trust, effect: deny, syscalls: [SYS_GETPID], trust: { below: 1000 } }\n${ALLOW}`);
    const replayed = await agentctl(['replay-run', 'trust-run', '--policy', doubt]);
    expect(replayed.code).toBe(3);
    expect(replayed.stderr).toMatch(/would have stopped the run at call #\d+, SYS_GETPID: deny by low-trust/);
    // The same recording as a version 1 tape (no decisions): its child's calls are said not to be judged, and it is not a pass.
    mkdirSync(join(dir, 'trust-v1'));
    writeFileSync(join(dir, 'trust-v1', 'policy.yaml'), readFileSync(join(dir, 'trust-run', 'policy.yaml')));
    const lines = readFileSync(join(dir, 'trust-run', 'tape.jsonl'), 'utf8').split('\n').filter((l) => !l.startsWith('{"k":"d"'));
    lines[0] = lines[0]!.replace('"version":2', '"version":1');
    writeFileSync(join(dir, 'trust-v1', 'tape.jsonl'), lines.join('\n'));
    const old = await agentctl(['replay-run', 'trust-v1', '--policy', file('allow-all.yaml', `version: 1\nrules:\n${ALLOW}`)]);
    expect(old.code).toBe(3);
    expect(old.stderr).toMatch(/could not be judged; the first: pid \d+ \*: a tape of version 1 keeps nothing of a child's calls/);
  });
});

describe('replays that hung, crashed or said the wrong thing', () => {
  it('a run killed by its CPU limit replays to the same end (the replay spun forever)', async () => {
    const rec = await agentctl(['run', '--record', 'spin', '--cpu-ms', '300', program('spin.ts', 'console.log("spin"); let i = 0; for (;;) i++;')]);
    expect(rec.code).toBe(132);
    const replayed = await agentctl(['replay-run', 'spin']);
    expect(replayed.stdout).toBe('spin\n');
    expect(replayed.code).toBe(0);
    expect(replayed.stderr).toMatch(/followed the 1 call; ended with status 132/);
  });

  it('a replay runs under the recorded limits (a raised heap and open-file limit made it diverge)', async () => {
    const big = program('big.ts', "const keep = []; for (let i = 0; i < 96; i++) keep.push(new Uint8Array(1 << 20).fill(i)); const fds = []; for (let i = 0; i < 80; i++) fds.push(sys.open('mem/f' + i, 'w')); console.log(keep.length, fds.length);");
    const rec = await agentctl(['run', '--record', 'big', '--memory', '256', '--limit', 'open_files=100', big]);
    expect(rec.stdout).toBe('96 80\n');
    const replayed = await agentctl(['replay-run', 'big']);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toBe(rec.stdout);
    expect(JSON.parse(readFileSync(join(dir, 'big', 'tape.jsonl'), 'utf8').split('\n')[0]!).limits).toMatchObject({ heapMib: 256, openFiles: 100 });
  });

  it('agentctl run takes only limits a replay of its recording takes, a policy\'s range (--memory 70000, open_files=2, kernel_ms_per_second=0 were recorded and their replays refused; heap_mib=4 crashed in isolated-vm)', async () => {
    const prog = program('limited.ts', 'console.log("ok");');
    const refused: [string[], string][] = [
      [['--memory', '70000'], '--memory: 70000 is out of range: 8 to 65536 MiB'],
      [['--memory', '7'], '--memory: 7 is out of range: 8 to 65536 MiB'],
      [['--limit', 'heap_mib=4'], '--limit heap_mib: 4 is out of range: 8 to 65536 MiB'],
      [['--limit', 'open_files=2'], '--limit open_files: 2 is out of range: 3 to 65536'],
      [['--limit', 'kernel_ms_per_second=0'], '--limit kernel_ms_per_second: 0 is out of range: at least 1'],
      [['--cpu-ms', '0'], '--cpu-ms: 0 is out of range: at least 1'],
    ];
    for (const [flags, said] of refused) {
      const out = await agentctl(['run', '--record', 'out-of-range', ...flags, prog]);
      expect({ code: out.code, stderr: out.stderr }, flags.join(' ')).toEqual({ code: 2, stderr: `agentctl: ${said}\n` });
      expect(existsSync(join(dir, 'out-of-range'))).toBe(false);
    }
    // The ends of the ranges are taken, and replay.
    const rec = await agentctl(['run', '--record', 'in-range', '--memory', '8', '--limit', 'open_files=3', prog]);
    expect(rec.stdout).toBe('ok\n');
    expect(JSON.parse(readFileSync(join(dir, 'in-range', 'tape.jsonl'), 'utf8').split('\n')[0]!).limits).toMatchObject({ heapMib: 8, openFiles: 3 });
    const replayed = await agentctl(['replay-run', 'in-range']);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toBe('ok\n');
  });

  it('an edited program that waits where the recorded one ended diverges instead of hanging', async () => {
    await agentctl(['run', '--record', 'short', program('short.ts', 'console.log("a");')]);
    const replayed = await agentctl(['replay-run', 'short', '--program', program('hang.ts', 'console.log("a"); await new Promise(() => {});')]);
    expect(replayed.code).toBe(1);
    expect(replayed.stderr).toMatch(/recorded: the end of the run \(status 0, exit\)\n {2}replayed: the program still waiting/);
  });

  it('an edited program that ends with another error diverges (only the status was compared)', async () => {
    await agentctl(['run', '--record', 'boom', program('boom.ts', 'console.log("x"); throw new Error("boom");')]);
    const replayed = await agentctl(['replay-run', 'boom', '--program', program('other.ts', 'console.log("x"); throw new TypeError("something else");')]);
    expect(replayed.code).toBe(1);
    expect(replayed.stderr).toMatch(/recorded: the end of the run \(status 1, uncaught error: Error: boom\)\n {2}replayed: the end of the run \(status 1, uncaught error: TypeError: something else\)/);
  });

  it('Intl\'s "now" is the recorded time too (it read the isolate\'s clock)', async () => {
    const rec = await agentctl(['run', '--record', 'intl', program('intl.ts', "const f = new Intl.DateTimeFormat('en', { timeStyle: 'medium', timeZone: 'UTC' }); console.log(f.format(), f.formatToParts().length); await new Promise((r) => setTimeout(r, 1100)); console.log(f.format());")]);
    const replayed = await agentctl(['replay-run', 'intl']);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toBe(rec.stdout);
  });

  it('--fork-at 0 is live from the start, clock included (the first clock reads were the recording\'s)', async () => {
    const rec = await agentctl(['run', '--record', 'now', program('now.ts', 'console.log(Date.now());')]);
    await new Promise((r) => setTimeout(r, 20));
    const forked = await agentctl(['replay-run', 'now', '--fork-at', '0']);
    expect(forked.code).toBe(0);
    expect(Number(forked.stdout)).toBeGreaterThan(Number(rec.stdout));
    const past = await agentctl(['replay-run', 'now', '--fork-at', '5']);
    expect(past.stdout).toBe(rec.stdout);
    expect(past.stderr).toContain("--fork-at 5 is at or past the recording's last call (#1): nothing ran live");
  });

  it('what it prints is what the program writes: an edited, missing or added output line is a divergence (the tape\'s output was printed, and "followed all calls")', async () => {
    const rec = await agentctl(['run', '--record', 'said', program('said.ts', 'console.log("one"); console.log("two");')]);
    expect(rec.stdout).toBe('one\ntwo\n');
    const lines = readFileSync(join(dir, 'said', 'tape.jsonl'), 'utf8').trim().split('\n');
    const at = lines.findIndex((l) => l.startsWith('{"k":"o"'));
    const edited = async (name: string, edit: (lines: string[]) => void): Promise<Outcome> => {
      const copy = [...lines];
      edit(copy);
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'policy.yaml'), readFileSync(join(dir, 'said', 'policy.yaml')));
      writeFileSync(join(dir, name, 'tape.jsonl'), `${copy.join('\n')}\n`);
      return agentctl(['replay-run', name]);
    };
    const changed = await edited('said-changed', (l) => void (l[at] = outputLine('ALL TESTS PASSED\n')));
    expect(changed.code).toBe(1);
    expect(changed.stdout).toBe('one\n');
    expect(changed.stderr).toContain('diverged at call #1 of 2\n  recorded: output to fd 1: "ALL TESTS PASSED\\n"\n  replayed: call #1 wrote to fd 1: "one\\n"\n');
    const missing = await edited('said-missing', (l) => void l.splice(at, 1));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/recorded: call #2 SYS_WRITE\(\[1,"two\\n"\]\)\n {2}replayed: call #1 wrote to fd 1: "one\\n"/);
    const added = await edited('said-added', (l) => void l.splice(-1, 0, outputLine('ALL TESTS PASSED\n')));
    expect(added.code).toBe(1);
    expect(added.stdout).toBe('one\ntwo\n');
    expect(added.stderr).toMatch(/recorded: output to fd 1: "ALL TESTS PASSED\\n"\n {2}replayed: the program idle after call #2/);
  });

  it('a run whose writes to stdout waited for a slow reader replays (its queued writes were a divergence: the replay\'s stdout never waits), its output still checked', async () => {
    // 20 writes of 1 MiB: past 1 MiB held the rest wait (queued), past 16 MiB waiting EAGAIN; the reader then drains while the
    // program waits for a child, before it is told (a replay whose writes waited until their recorded completions refused the last ones).
    const flood = program('flood.ts', [
      'const chunk = new Uint8Array(1 << 20).fill(46);',
      'const order = [];',
      'const write = (i) => sys.async.write(1, chunk).then(() => order.push(i), (e) => order.push(`${i} ${e.errno}`));',
      'const writes = [];',
      'for (let i = 0; i < 20; i++) writes.push(write(i));',
      "console.error('filled');",
      "sys.writeFile('nap.js', 'await new Promise((r) => setTimeout(r, 1000));');",
      "sys.wait(sys.spawn('nap.js'));",
      'for (let i = 20; i < 24; i++) writes.push(write(i));',
      'await Promise.all(writes);',
      "console.error(order.join(','));",
    ].join('\n'));
    const rec = await run(['run', '--record', 'flood', flood], { cwd: dir, readStdout: (stderr) => stderr.includes('filled\n') });
    expect(rec.code).toBe(0);
    const replies = readFileSync(join(dir, 'flood', 'tape.jsonl'), 'utf8').split('\n').filter((l) => l.startsWith('{"k":"c"') && l.includes('"s":1,'));
    expect(replies.filter((l) => l.includes('"r":{"t":"queued"')).length).toBeGreaterThan(10);
    expect(replies.filter((l) => l.includes('"errno":"EAGAIN"')).length).toBeGreaterThan(0);
    const replayed = await agentctl(['replay-run', 'flood']);
    expect(replayed.stderr).toMatch(/followed all \d+ calls; ended with status 0 \(exit\), as recorded/);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toBe(rec.stdout);
    // The program saw its writes complete, and refused, as recorded.
    expect(replayed.stderr.split('\n')[1]).toBe(rec.stderr.split('\n')[1]);
    // The output is still checked: a byte of a waiting write's output changed is a divergence.
    const lines = readFileSync(join(dir, 'flood', 'tape.jsonl'), 'utf8').trim().split('\n');
    const third = lines.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith('{"k":"o"'))[2]![1];
    mkdirSync(join(dir, 'flood-edited'));
    writeFileSync(join(dir, 'flood-edited', 'policy.yaml'), readFileSync(join(dir, 'flood', 'policy.yaml')));
    lines[third] = outputLine(`${'.'.repeat((1 << 20) - 1)}!`);
    writeFileSync(join(dir, 'flood-edited', 'tape.jsonl'), `${lines.join('\n')}\n`);
    const edited = await agentctl(['replay-run', 'flood-edited']);
    expect(edited.code).toBe(1);
    expect(edited.stderr).toMatch(/diverged at call #3 of \d+\n {2}recorded: output to fd 1: "\.{20}/);
  }, 60_000);

  it('refuses damaged tapes in one line, status 2 (a bad batch crashed it, a wait reply or an unknown signal hung it)', async () => {
    await agentctl(['run', '--record', 'good', program('good.ts', 'await new Promise((r) => setTimeout(r, 1)); console.log("ok");')]);
    const lines = readFileSync(join(dir, 'good', 'tape.jsonl'), 'utf8').trim().split('\n');
    const policy = readFileSync(join(dir, 'good', 'policy.yaml'), 'utf8');
    const edited = async (name: string, edit: (events: Record<string, unknown>[]) => void, message: RegExp) => {
      const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      edit(events);
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'policy.yaml'), policy);
      writeFileSync(join(dir, name, 'tape.jsonl'), `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
      const out = await agentctl(['replay-run', name], 15_000);
      expect(out.signal).toBeNull();
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(message);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    };
    await edited('bad-batch', (e) => void (first(e, 'b').c = 5), /tape\.jsonl:\d+: c: want the completions, a list/);
    await edited('wait-reply', (e) => void (first(e, 'c').r = { t: 'wait', ticket: 1 }), /tape\.jsonl:\d+: r: t: want value, fault, queued or busy/);
    await edited('bad-signal', (e) => void (e.at(-1)!.signal = 'SIGFOO'), /tape\.jsonl:\d+: signal: "SIGFOO" is not a signal/);
    await edited('no-limits', (e) => void delete e[0]!.limits, /tape\.jsonl:1: limits: want names and numbers/);
    // A replay runs under the header's limits: held to what a policy's defaults.limits may set (a 100 GB heap ran; 0.5 and 1e300 reached isolated-vm, 0 files diverged).
    await edited('huge-heap', limit('heapMib', 100_000), /tape\.jsonl:1: limits\.heapMib: 100000 is out of range: 8 to 65536/);
    await edited('half-heap', limit('heapMib', 0.5), /tape\.jsonl:1: limits\.heapMib: 0\.5 is not a whole number/);
    await edited('vast-heap', limit('heapMib', 1e300), /tape\.jsonl:1: limits\.heapMib: 1e\+300 is not a whole number/);
    await edited('bogus-limit', limit('bogus', 5), /tape\.jsonl:1: limits: "bogus" is not a limit \(heapMib, /);
    await edited('no-files', limit('openFiles', 0), /tape\.jsonl:1: limits\.openFiles: 0 is out of range: 3 to 65536/);
    await edited('no-cpu', limit('cpuMs', 0), /tape\.jsonl:1: limits\.cpuMs: 0 is out of range: at least 1/);
    // A hand-written header's relative program path was read from the replay's working folder, not the recording's: refused.
    await edited('relative', (e) => void ((e[0]!.program as Record<string, unknown>).path = 'good.ts'), /tape\.jsonl:1: program\.path: "good\.ts" is not an absolute path/);
  });
});

describe('where a tape is written', () => {
  it('never over a file that is there (a policy.yaml was overwritten, then deleted, a symbolic link followed)', async () => {
    mkdirSync(join(dir, 'mine'));
    writeFileSync(join(dir, 'mine', 'policy.yaml'), 'version: 1\nrules: []\n# mine\n');
    const out = await agentctl(['run', '--record', 'mine', '--restore', 'nowhere', program('hi.ts', 'console.log(1)')]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/mine already has a policy\.yaml: record into a new directory/);
    expect(readFileSync(join(dir, 'mine', 'policy.yaml'), 'utf8')).toContain('# mine');
    expect(existsSync(join(dir, 'mine', 'tape.jsonl'))).toBe(false);
  });
});
