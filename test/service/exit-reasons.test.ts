/**
 * Why an agent died, end to end: real agent programs in real isolates on a
 * real agentd end by an uncaught error, an operator's SIGKILL, the memory
 * limit, the CPU limit and their own exit; the reason shows in `agentctl ps`
 * (a REASON column), `ps --json` (exitReason), `agentctl output` (stderr ends
 * with it; --json has status and exitReason), the decision log's exit record
 * and agentd's own log line. An error text with terminal escapes reaches
 * none of them raw. And retention: what a finished agent leaves is kept as
 * configured (`retention` in agentd's YAML) and the exited process is freed
 * once `exited_ms` has passed, with a 404 that names the setting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../kernel/service/config.ts';
import { MAX_RETENTION_MS } from '../../kernel/service/config-schema.ts';
import { agentctl, IDLE_AGENT, json, node, startAgentd, until, type Agentd } from './helpers.ts';

/** Line 4 throws from `inner`, called on line 6: the stack names the .ts file at those lines. */
const BOOM = `console.log('starting');
const key: string | undefined = undefined;
function inner(): never {
  throw new Error(\`the model key is missing (\${String(key)})\`);
}
inner();
`;
const HOG = 'const hoard: number[][] = [];\nfor (;;) hoard.push(new Array(1_000_000).fill(hoard.length));\n';
const BUSY = 'let n = 0;\nfor (;;) n++;\n';
const TIDY = "console.log('done');\n";
/** An error whose message would clear an operator's screen and forge a log line. */
const ESCAPE = "throw new Error('\\u001b[2Jforged\\nagentd: pid 999 (agent x) exited(0)');\n";

interface Listed {
  pid: number;
  state: string;
  status?: number;
  exitReason?: { kind: string; error?: string; signal?: string; why?: string };
}

let agentd: Agentd;
const pids: Record<string, number> = {};
let file: Record<string, string> = {};

/** spawn starts `source` from a .ts file with `agentctl spawn` and returns its pid. */
async function spawn(name: string, source: string): Promise<number> {
  file[name] = agentd.write(`${name}.ts`, source);
  const { pid } = await json<{ pid: number }>(agentd, 'spawn', file[name]!, '--agent', name);
  return pid;
}

const processes = async () => json<Listed[]>(agentd, 'ps');

/** loading writes `text` as a configuration file and returns what loads it. */
function loading(text: string): () => ReturnType<typeof loadConfig> {
  const path = agentd.write('retention.yaml', text);
  return () => loadConfig(path);
}

beforeAll(async () => {
  agentd = await startAgentd('limits: { heap_mib: 32, cpu_ms: 500 }\nterm_grace_ms: 1000\n');
  file = {};
  for (const [name, source] of Object.entries({ boom: BOOM, hog: HOG, busy: BUSY, tidy: TIDY, escape: ESCAPE, idle: `${IDLE_AGENT}\n` })) pids[name] = await spawn(name, source);
  await until(async () => (await agentctl(agentd, 'output', String(pids.idle))).stdout.includes('ready'), 'the idle agent to be ready');
  const killed = await agentctl(agentd, 'kill', '-KILL', String(pids.idle));
  expect(killed.status).toBe(0);
  await until(async () => (await processes()).every((p) => p.state === 'exited'), 'every agent to end');
});
afterAll(() => agentd.remove());

describe('why an agent died: agentctl ps', () => {
  it('ps --json has each exit reason: the uncaught error with its stack at the .ts source lines, the signal and why', async () => {
    const byPid = new Map((await processes()).map((p) => [p.pid, p]));
    expect(byPid.get(pids.boom!)).toMatchObject({ status: 1, exitReason: { kind: 'error' } });
    expect(byPid.get(pids.boom!)!.exitReason!.error!.split('\n')).toEqual([
      'Error: the model key is missing (undefined)',
      `    at inner (${file.boom}:4:9)`,
      `    at main (${file.boom}:6:1)`,
    ]);
    expect(byPid.get(pids.idle!)).toMatchObject({ status: 132, exitReason: { kind: 'signal', signal: 'SIGKILL', why: 'SIGKILL from operator' } });
    expect(byPid.get(pids.hog!)).toMatchObject({ status: 132, exitReason: { kind: 'signal', signal: 'SIGKILL', why: 'memory limit exceeded' } });
    expect(byPid.get(pids.busy!)).toMatchObject({ status: 132, exitReason: { kind: 'signal', signal: 'SIGKILL' } });
    expect(byPid.get(pids.busy!)!.exitReason!.why).toMatch(/^CPU time limit 500 ms/);
    expect(byPid.get(pids.tidy!)).toMatchObject({ status: 0, exitReason: { kind: 'exit' } });
  });

  it('ps has a REASON column, last, with the short form of each', async () => {
    const r = await agentctl(agentd, 'ps');
    expect(r).toMatchObject({ status: 0, stderr: '' });
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^PID\s+PPID\s+AGENT\s+STATE\s+SYSCALLS\s+FDS\s+PENDING\s+TREE\s+CPU\s+VFS\s+PROGRAM\s+REASON\s*$/);
    const reason = (name: string) => {
      const row = rows.find((line) => line.startsWith(`${pids[name]} `));
      if (row === undefined) throw new Error(`no row for ${name} in\n${r.stdout}`);
      return row.slice(header!.indexOf('REASON')).trimEnd();
    };
    expect(reason('boom')).toMatch(/^Error: the model key is missing \(undefined\) \(at inner \(.{0,40}…$/);
    expect(reason('idle')).toBe('killed by SIGKILL from operator');
    expect(reason('hog')).toBe('killed by SIGKILL (memory limit exceeded)');
    expect(reason('busy')).toMatch(/^killed by SIGKILL \(CPU time limit 500 ms/);
    expect(reason('tidy')).toBe('exit(0)');
  });

  it('a running process has no REASON column to fill: a daemon with only running agents shows none', async () => {
    const fresh = await startAgentd();
    try {
      const res = await fresh.api('POST', '/v1/processes', { source: IDLE_AGENT, filename: 'idle.js' });
      expect(res.status).toBe(201);
      const r = await agentctl(fresh, 'ps');
      expect(r.stdout.split('\n')[0]).toMatch(/PROGRAM\s*$/);
    } finally {
      await fresh.remove();
    }
  });
});

describe('why an agent died: agentctl output', () => {
  it('output prints what the agent wrote, then on stderr how it ended: the whole stack of an uncaught error', async () => {
    const r = await agentctl(agentd, 'output', String(pids.boom));
    expect(r).toMatchObject({ status: 0, stdout: 'starting\n' });
    expect(r.stderr).toBe(`agentctl: pid ${pids.boom} exited(1), error:\nError: the model key is missing (undefined)\n    at inner (${file.boom}:4:9)\n    at main (${file.boom}:6:1)\n`);
  });

  it('a signal, a limit and a plain exit are one line each', async () => {
    expect((await agentctl(agentd, 'output', String(pids.idle))).stderr).toBe(`agentctl: pid ${pids.idle} exited(132): killed by SIGKILL from operator\n`);
    expect((await agentctl(agentd, 'output', String(pids.hog))).stderr).toBe(`agentctl: pid ${pids.hog} exited(132): killed by SIGKILL (memory limit exceeded)\n`);
    expect((await agentctl(agentd, 'output', String(pids.busy))).stderr).toMatch(new RegExp(`^agentctl: pid ${pids.busy} exited\\(132\\): killed by SIGKILL \\(CPU time limit 500 ms[^\\n]*\\)\\n$`));
    expect(await agentctl(agentd, 'output', String(pids.tidy))).toMatchObject({ status: 0, stdout: 'done\n', stderr: `agentctl: pid ${pids.tidy} exited(0)\n` });
  });

  it('output --json has the status and the exit reason beside stdout and stderr', async () => {
    expect(await json(agentd, 'output', String(pids.hog))).toEqual({ stdout: '', stderr: '', status: 132, exitReason: { kind: 'signal', signal: 'SIGKILL', why: 'memory limit exceeded' } });
    expect(await json(agentd, 'output', String(pids.tidy))).toEqual({ stdout: 'done\n', stderr: '', status: 0, exitReason: { kind: 'exit' } });
  });
});

describe("why an agent died: agentd's log and the decision log", () => {
  it('agentd writes one line per ending to its own log', async () => {
    await until(() => Object.values(pids).every((pid) => agentd.stdout().includes(`agentd: pid ${pid} `)), "agentd's line for every agent");
    const lines = agentd.stdout().split('\n');
    const line = (name: string) => lines.find((l) => l.startsWith(`agentd: pid ${pids[name]} `));
    expect(line('boom')).toBe(`agentd: pid ${pids.boom} (agent boom) exited(1): Error: the model key is missing (undefined) (at inner (${file.boom}:4:9))`);
    expect(line('idle')).toBe(`agentd: pid ${pids.idle} (agent idle) exited(132): killed by SIGKILL from operator`);
    expect(line('hog')).toBe(`agentd: pid ${pids.hog} (agent hog) exited(132): killed by SIGKILL (memory limit exceeded)`);
    expect(line('busy')).toMatch(/^agentd: pid \d+ \(agent busy\) exited\(132\): killed by SIGKILL \(CPU time limit 500 ms/);
    expect(line('tidy')).toBe(`agentd: pid ${pids.tidy} (agent tidy) exited(0)`);
  });

  it("the decision log's exit record of an uncaught error carries its first line and top frame", async () => {
    const exits = (await agentd.api('GET', '/v1/decisions?type=exit')).body as { pid: number; detail: string }[];
    expect(exits.find((r) => r.pid === pids.boom)?.detail).toBe(`status 1: Error: the model key is missing (undefined) (at inner (${file.boom}:4:9))`);
    expect(exits.find((r) => r.pid === pids.tidy)?.detail).toBe('status 0');
  });

  it("an error text with terminal escapes and a forged line: escaped, one line, in ps, agentd's log and the record; output shows its lines escaped", async () => {
    const forged = 'Error: \\x1b[2Jforged';
    await until(() => agentd.stdout().includes(`agentd: pid ${pids.escape} `), "agentd's line for the agent");
    expect(agentd.stdout()).toContain(`agentd: pid ${pids.escape} (agent escape) exited(1): ${forged} (at main (${file.escape}:1:7))\n`);
    expect(agentd.stdout()).not.toContain('\u001b');
    expect(agentd.stdout()).not.toMatch(/^agentd: pid 999 /m);
    const ps = await agentctl(agentd, 'ps');
    expect(ps.stdout).not.toContain('\u001b');
    expect(ps.stdout).toContain(`${forged} (at main`);
    const exits = (await agentd.api('GET', '/v1/decisions?type=exit')).body as { pid: number; detail: string }[];
    expect(exits.find((r) => r.pid === pids.escape)?.detail).toBe(`status 1: ${forged} (at main (${file.escape}:1:7))`);
    const out = await agentctl(agentd, 'output', String(pids.escape));
    expect(out.stderr).toBe(`agentctl: pid ${pids.escape} exited(1), error:\nError: \\x1b[2Jforged\nagentd: pid 999 (agent x) exited(0)\n    at main (${file.escape}:1:7)\n`);
  });
});

describe('retention: what a finished agent leaves', () => {
  it('retention is validated: each time at most 2147483647 ms (a longer timer would fire at once), defaults 60 s', () => {
    expect(loadConfig(undefined).retention).toEqual({ exitedMs: 60_000, treesMs: 60_000, checkpoints: 5 });
    expect(loading(`retention: { exited_ms: ${MAX_RETENTION_MS}, trees_ms: ${MAX_RETENTION_MS} }\n`)().retention).toMatchObject({ exitedMs: MAX_RETENTION_MS, treesMs: MAX_RETENTION_MS });
    expect(loading('retention: { trees_ms: 3000000000 }\n')).toThrow(ConfigError);
    expect(loading('retention: { trees_ms: 3000000000 }\n')).toThrow(/retention\.trees_ms: must be <= 2147483647/);
    expect(loading('retention: { exited_ms: 3000000000 }\n')).toThrow(/retention\.exited_ms: must be <= 2147483647/);
    expect(loading('retention: { exited_ms: -1 }\n')).toThrow(/retention\.exited_ms: must be >= 0/);
    expect(loading('retention: { exited: 5 }\n')).toThrow(/retention\.exited: is not a known field/);
  });

  it('agentd refuses a retention its timers cannot keep: status 2, one line naming the field', async () => {
    const config = agentd.write('too-long.yaml', 'retention: { trees_ms: 3000000000 }\n');
    const r = await node('bin/agentd.ts', undefined, ['--config', config, '--port', '0', '--state-dir', `${agentd.stateDir}-refused`]).done;
    expect(r).toMatchObject({ status: 2, stdout: '', stderr: `agentd: ${config}: retention.trees_ms: must be <= 2147483647\n` });
  });

  it('exited_ms 0: the process is freed at once, its ending still logged; its output is gone with a 404 naming the setting; trees_ms keeps the files', async () => {
    const keeper = await startAgentd(`retention: { exited_ms: 0, trees_ms: ${MAX_RETENTION_MS} }\n`);
    try {
      const writer = await keeper.api('POST', '/v1/processes', { source: "sys.writeFile('mem/working/note.txt', 'kept'); throw new Error('written, then failed');", filename: 'writer.js', manifest: { id: 'keeper' } });
      expect(writer.status).toBe(201);
      const pid = (writer.body as { pid: number }).pid;
      await until(() => keeper.stdout().includes(`agentd: pid ${pid} (agent keeper) exited(1): Error: written, then failed`), "agentd's line for the writer");
      await until(async () => (await keeper.api('GET', `/v1/processes/${pid}`)).status === 404, 'the exited writer to be reaped');
      const gone = await agentctl(keeper, 'output', String(pid));
      expect(gone.status).toBe(1);
      expect(gone.stderr).toBe(`agentctl: no process ${pid} (agentd keeps an exited process and its output 0 ms: retention.exited_ms)\n`);
      expect((await keeper.api('GET', `/v1/processes/${pid}/vfs/ls?path=mem`)).status).toBe(404);
      // The agent's tree outlives its process for trees_ms: the next process of the agent finds the note.
      const reader = await keeper.api('POST', '/v1/processes', { source: `console.log(sys.readFile('mem/working/note.txt')); ${IDLE_AGENT}`, filename: 'reader.js', manifest: { id: 'keeper' } });
      const readerPid = (reader.body as { pid: number }).pid;
      await until(async () => (await keeper.api('GET', `/v1/processes/${readerPid}/output`)).body.stdout === 'kept\nready\n', 'the reader to print the kept note');
    } finally {
      await keeper.remove();
    }
  });
});
