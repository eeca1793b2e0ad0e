/**
 * agentctl against a real agentd, as a child process for every command:
 * ps, spawn [--manifest], output, kill (names and numbers), stop/cont,
 * checkpoint, vfs ls|cat, top --once — text and --json — and --help with an
 * example for every command.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, IDLE_AGENT, json, spawnAgent, startAgentd, until, type Agentd } from './helpers.ts';

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd('term_grace_ms: 2000\n');
});
afterAll(() => agentd.remove());

const info = async (pid: number) => (await agentd.api('GET', `/v1/processes/${pid}`)).body as { state: string; status?: number };

const NOTE_AGENT = `sys.mkdir('mem/working', { recursive: true }); sys.writeFile('mem/working/note.txt', 'buy milk\\n'); console.log('args ' + JSON.stringify(sys.args)); ${IDLE_AGENT}`;

describe('agentctl ps and spawn', () => {
  it('ps on an empty daemon prints the header, and [] with --json', async () => {
    const fresh = await startAgentd();
    try {
      const text = await agentctl(fresh, 'ps');
      expect(text).toMatchObject({ status: 0, stderr: '' });
      expect(text.stdout.trim()).toMatch(/^PID\s+PPID\s+AGENT\s+STATE\s+SYSCALLS\s+FDS\s+PENDING\s+TREE\s+CPU\s+VFS\s+PROGRAM$/);
      expect(await json(fresh, 'ps')).toEqual([]);
    } finally {
      await fresh.remove();
    }
  });

  it('spawn FILE --manifest M -- args starts the program under the manifest id; output and ps show it', async () => {
    const file = agentd.write('notes-agent.js', NOTE_AGENT);
    const manifest = agentd.write('notes.manifest.yaml', 'id: note-taker\nlabels: { team: ops }\n');
    const spawned = await json<{ pid: number; agentId: string }>(agentd, 'spawn', file, '--manifest', manifest, '--', 'one', '--two');
    expect(spawned.agentId).toBe('note-taker');
    await until(async () => (await agentctl(agentd, 'output', String(spawned.pid))).stdout.includes('ready'), 'the agent to print ready');
    const out = await agentctl(agentd, 'output', String(spawned.pid));
    expect(out).toMatchObject({ status: 0, stdout: 'args ["one","--two"]\nready\n' });
    expect(await json(agentd, 'output', String(spawned.pid))).toEqual({ stdout: 'args ["one","--two"]\nready\n', stderr: '' });

    const list = await json<{ pid: number; agentId: string; state: string; program: string }[]>(agentd, 'ps');
    expect(list.find((p) => p.pid === spawned.pid)).toMatchObject({ agentId: 'note-taker', state: 'blocked', program: file });
    const text = await agentctl(agentd, 'ps');
    expect(text.stdout, 'no colour when stdout is not a terminal').not.toContain('\x1b[');
    expect(text.stdout.split('\n').find((l) => l.startsWith(`${spawned.pid} `))).toMatch(new RegExp(`^${spawned.pid}\\s+0\\s+note-taker\\s+blocked\\s+\\d+\\s+\\d+\\s+-\\s+${spawned.pid}\\s+\\d+ms\\s+\\S+/32M\\s+${file.replaceAll('.', '\\.')}`));
  });

  it('spawn without --manifest prints "PID (agent ID)" in text mode', async () => {
    const file = agentd.write('plain.js', IDLE_AGENT);
    const r = await agentctl(agentd, 'spawn', file);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^(\d+) \(agent agent-\1\)\n$/);
  });

  it('spawn of a program that does not compile is one line and status 2 (built by agentctl, as run builds it)', async () => {
    const r = await agentctl(agentd, 'spawn', agentd.write('broken.js', 'this is not javascript ('));
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('agentctl kill, stop and cont', () => {
  // Found by an attacker pass: killing an agent's root left its children running (3.8 s of CPU in 5 s), with nothing
  // of the agent left to wait on or signal them. --tree is the operator's way to end an agent whole.
  it("kill -KILL --tree ROOT ends every process of the root's tree, one line each; kill of the root alone leaves them", async () => {
    const tree = `sys.writeFile('mem/idle.js', "await new Promise(() => {});"); const a = sys.spawn('mem/idle.js'); const b = sys.spawn('mem/idle.js'); console.log('children ' + a + ' ' + b); ${IDLE_AGENT}`;
    const root = await spawnAgent(agentd, tree);
    const [a, b] = /children (\d+) (\d+)/.exec((await agentctl(agentd, 'output', String(root))).stdout)!.slice(1).map(Number);
    const text = await agentctl(agentd, 'kill', '-KILL', '--tree', String(root));
    expect(text).toMatchObject({ status: 0, stderr: '' });
    expect(text.stdout).toBe([root, a, b].map((pid) => `${pid}: SIGKILL terminated\n`).join(''));
    for (const pid of [root, a!, b!]) await until(async () => (await info(pid)).state === 'exited', `pid ${pid} to end`);
    expect(await info(a!)).toMatchObject({ status: 132 });

    const again = await spawnAgent(agentd, tree);
    const [c] = /children (\d+)/.exec((await agentctl(agentd, 'output', String(again))).stdout)!.slice(1).map(Number);
    expect(await json(agentd, 'kill', '-KILL', String(again))).toEqual({ pid: again, signal: 'SIGKILL', outcome: 'terminated' });
    await until(async () => (await info(again)).state === 'exited', 'the root to end');
    expect(await info(c!)).toMatchObject({ state: 'blocked' });
    // The root has exited: --tree from it still ends what is left of its tree (a review: it said the root had exited).
    expect(await agentctl(agentd, 'kill', '-STOP', '--tree', String(again))).toMatchObject({ status: 0, stdout: `${c}: SIGSTOP stopped\n${c! + 1}: SIGSTOP stopped\n` });
    await agentctl(agentd, 'kill', '-CONT', '--tree', String(again));
    // The orphan's tree is still the root's: --tree from it ends what is left.
    const lines = (await agentctl(agentd, 'kill', '-KILL', '--tree', String(c), '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual([{ pid: c, signal: 'SIGKILL', outcome: 'terminated' }, { pid: c! + 1, signal: 'SIGKILL', outcome: 'terminated' }]);
    const none = await agentctl(agentd, 'kill', '-KILL', '--tree', String(again));
    expect([none.status, none.stderr]).toEqual([1, `agentctl: ${again}: process ${again} has exited, and so has every process of its tree\n`]);
    expect(await agentctl(agentd, 'kill', '-KILL', '--tree', '--all')).toMatchObject({ status: 2, stderr: 'agentctl: --tree takes pids, not --selector or --all (they match every process of a tree anyway)\n' });
  });

  it('kill -STOP / kill -2 (SIGCONT by number) / stop / cont change the state ps reports', async () => {
    const pid = await spawnAgent(agentd, IDLE_AGENT);
    expect(await agentctl(agentd, 'kill', '-STOP', String(pid))).toMatchObject({ status: 0, stdout: `${pid}: SIGSTOP stopped\n` });
    expect(await info(pid)).toMatchObject({ state: 'stopped' });
    expect(await agentctl(agentd, 'kill', '-2', String(pid))).toMatchObject({ status: 0, stdout: `${pid}: SIGCONT continued\n` });
    expect(await info(pid)).toMatchObject({ state: 'blocked' });
    expect(await json(agentd, 'stop', String(pid))).toEqual({ pid, signal: 'SIGSTOP', outcome: 'stopped' });
    expect((await json<{ state: string }[]>(agentd, 'ps')).find((p) => (p as unknown as { pid: number }).pid === pid)?.state).toBe('stopped');
    expect(await json(agentd, 'cont', String(pid))).toEqual({ pid, signal: 'SIGCONT', outcome: 'continued' });
    expect(await info(pid)).toMatchObject({ state: 'blocked' });
  });

  it('kill -SIGUSR1 checkpoints; kill -s TERM ends an idle agent with 133', async () => {
    const pid = await spawnAgent(agentd, IDLE_AGENT);
    expect(await json(agentd, 'kill', '-SIGUSR1', String(pid))).toEqual({ pid, signal: 'SIGUSR1', outcome: 'checkpointed' });
    expect(await agentctl(agentd, 'kill', '-s', 'TERM', String(pid))).toMatchObject({ status: 0, stdout: `${pid}: SIGTERM terminated\n` });
    await until(async () => (await info(pid)).state === 'exited', 'the agent to exit');
    expect(await info(pid)).toMatchObject({ state: 'exited', status: 133 });
  });

  it('kill -4 PID PID (SIGKILL by number) ends several; a plain pid gets SIGTERM', async () => {
    const [a, b, c] = await Promise.all([spawnAgent(agentd, IDLE_AGENT), spawnAgent(agentd, IDLE_AGENT), spawnAgent(agentd, IDLE_AGENT)]);
    const r = await agentctl(agentd, 'kill', '-4', String(a), String(b));
    expect(r).toMatchObject({ status: 0, stdout: `${a}: SIGKILL terminated\n${b}: SIGKILL terminated\n` });
    expect(await agentctl(agentd, 'kill', String(c))).toMatchObject({ status: 0, stdout: `${c}: SIGTERM terminated\n` });
    await until(async () => (await info(a)).state === 'exited' && (await info(b)).state === 'exited', 'both to exit');
    expect(await info(a)).toMatchObject({ status: 132 });
    expect(await info(b)).toMatchObject({ status: 132 });
  });

  it('an unknown pid is one line and status 1; the known pids in the same command still get the signal', async () => {
    const pid = await spawnAgent(agentd, IDLE_AGENT);
    const r = await agentctl(agentd, 'kill', '-STOP', '999999', String(pid));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('agentctl: 999999: no process 999999\n');
    expect(r.stdout).toBe(`${pid}: SIGSTOP stopped\n`);
    const bad = await agentctl(agentd, 'kill', '-SIGBOGUS', String(pid));
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain("unknown signal 'SIGBOGUS'");
  });
});

describe('agentctl checkpoint and vfs', () => {
  let pid: number;
  beforeAll(async () => {
    pid = await spawnAgent(agentd, NOTE_AGENT);
  });

  it('checkpoint PID snapshots mem/; --json gives its number', async () => {
    const text = await agentctl(agentd, 'checkpoint', String(pid));
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^checkpoint 1: \d+ files, \d+ bytes at \S+\n$/);
    expect(await json(agentd, 'checkpoint', String(pid))).toMatchObject({ n: 2 });
  });

  it('vfs ls PID [path] lists the tree; vfs cat PID path prints a file', async () => {
    const root = await agentctl(agentd, 'vfs', 'ls', String(pid));
    expect(root.status).toBe(0);
    expect(root.stdout.split('\n')).toEqual(expect.arrayContaining(['mem/', 'state/']));
    expect(await json(agentd, 'vfs', 'ls', String(pid), 'mem/working')).toMatchObject({ entries: [{ name: 'note.txt', type: 'file' }] });
    await until(async () => (await json<{ entries: unknown[] }>(agentd, 'vfs', 'ls', String(pid), 'state/checkpoints')).entries.length >= 1, 'a checkpoint');
    expect(await agentctl(agentd, 'vfs', 'cat', String(pid), 'mem/working/note.txt')).toMatchObject({ status: 0, stdout: 'buy milk\n' });
    expect(await json(agentd, 'vfs', 'cat', String(pid), 'mem/working/note.txt')).toMatchObject({ size: 9, truncated: false, text: 'buy milk\n' });
  });

  it('vfs cat of a missing file, and an escape attempt, are one line and status 1', async () => {
    for (const path of ['mem/working/missing.txt', '../other/mem/x']) {
      const r = await agentctl(agentd, 'vfs', 'cat', String(pid), path);
      expect(r.status, path).toBe(1);
      expect(r.stderr.trim().split('\n'), path).toHaveLength(1);
    }
  });
});

describe('agentctl top', () => {
  it('top --once prints one frame: the daemon, the counts and the process table with SYS/S', async () => {
    const r = await agentctl(agentd, 'top', '--once');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^agentd ${agentd.url} {2}\\d+ processes {2}0 pending approvals`));
    expect(lines.find((l) => l.startsWith('PID'))).toMatch(/SYS\/S$/);
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('top --interval that is not a whole number of at least 200 ms is one line and status 2, a usage error (found by an attacker pass: NaN polled agentd every millisecond)', async () => {
    for (const bad of ['abc', '50', '1e400', '250.5', '0x400', '']) {
      const r = await agentctl(agentd, 'top', '--interval', bad);
      expect(r).toMatchObject({ status: 2, stdout: '', stderr: `agentctl: --interval must be a whole number of milliseconds, at least 200, not '${bad}'\n` });
    }
  });

  it('top --once --json is one JSON frame with syscall rates', async () => {
    const frame = await json<{ time: number; processes: { pid: number; syscallsPerSecond: number }[]; pendingApprovals: unknown[] }>(agentd, 'top', '--once');
    expect(frame.processes.length).toBeGreaterThan(0);
    expect(frame.processes.every((p) => typeof p.syscallsPerSecond === 'number')).toBe(true);
    expect(frame.pendingApprovals).toEqual([]);
  });
});

const COMMANDS = [
  ['ps'], ['kill'], ['stop'], ['cont'], ['spawn'], ['output'], ['approvals'], ['approve'], ['deny'], ['logs'], ['checkpoint'], ['top'],
  ['vfs', 'ls'], ['vfs', 'cat'], ['audit', 'verify'], ['audit', 'show'], ['policy', 'get'], ['policy', 'set'], ['policy', 'validate'], ['policy', 'test'], ['policy', 'explain'], ['policy', 'schema'], ['run'],
];

describe.concurrent('agentctl --help', () => {
  it.each(COMMANDS.map((c) => [c.join(' '), c]))('%s --help shows usage and an example', async (_name, command) => {
    const r = await agentctl(undefined, ...command, '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`Usage: agentctl ${command.join(' ')}`);
    expect(r.stdout).toMatch(new RegExp(`Example:\\n {2}\\$ agentctl ${command.join(' ')}`));
  });

  it('commands that talk to agentd offer --json', async () => {
    const commands = [['ps'], ['kill'], ['approvals'], ['logs'], ['top'], ['vfs', 'ls'], ['audit', 'verify'], ['policy', 'get']];
    const helps = await Promise.all(commands.map((command) => agentctl(undefined, ...command, '--help')));
    helps.forEach((r, i) => expect(r.stdout, commands[i]!.join(' ')).toContain('--json'));
  });
});
