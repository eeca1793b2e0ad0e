/**
 * Command tools run under bubblewrap (real bwrap, real programs): the
 * kernel's state and the configuration file are hidden even inside the
 * tool's own directory, writes land only in a per-call scratch folder that
 * is removed afterwards, there is no network unless the tool declares it,
 * CPU and memory are limited, every process a call starts ends with it, and
 * an agent in a real kernel reaches the tool through SYS_EXEC as before.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRegistry, parseToolsConfig } from '../../kernel/tools/config.ts';
import type { ToolRegistry } from '../../kernel/tools/registry.ts';
import { KernelError } from '../../abi/errno.ts';
import { syscallRecords } from '../syscalls/harness.ts';
import { until } from '../until.ts';
import { execReport, policy, REPO, toolKernel, TRY } from './helpers.ts';

const SECRET = 'agentd-token-4f1c9e';
const CALLER = { pid: 1, agentId: 'a', addTokens: () => {} };
/** python3 running the `code` argument it gets as JSON on stdin. */
const PY = ['python3', '-c', 'import json, sys; exec(json.load(sys.stdin)["code"])'];
const PY_TOOL = { command: PY, description: 'runs python', input_schema: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } } };

let dir: string; // the configuration's directory: the tools' cwd
let stateDir: string; // agentd's state dir, inside the tools' cwd
let elsewhere: string; // another state dir, outside anything bound
let server: Server;
let port = 0;
let connections = 0;
const registries: ToolRegistry[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agent-kernel-sandbox-test-'));
  stateDir = join(dir, 'state');
  mkdirSync(join(stateDir, 'checkpoints'), { recursive: true });
  writeFileSync(join(stateDir, 'agentd.token'), `${SECRET}\n`);
  writeFileSync(join(stateDir, 'decisions.jsonl'), `{"secret":"${SECRET}"}\n`);
  writeFileSync(join(dir, 'data.txt'), 'tool data\n');
  elsewhere = mkdtempSync(join(tmpdir(), 'agent-kernel-sandbox-state-'));
  writeFileSync(join(elsewhere, 'agentd.token'), `${SECRET}\n`);
  server = createServer((socket) => {
    connections++;
    socket.end('hello from the host\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await Promise.all(registries.map((r) => r.close()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

/** tools builds a registry from `commands`, with agentd.yaml (holding the secret) as its file and what agentd hides hidden. */
async function tools(commands: Record<string, object>): Promise<ToolRegistry> {
  const file = join(dir, 'agentd.yaml');
  writeFileSync(file, `# api_key: ${SECRET}\n`);
  const registry = await buildRegistry(parseToolsConfig({ tools: { builtin: {}, commands } }, file), { hide: [stateDir, join(stateDir, 'agentd.token'), join(stateDir, 'decisions.jsonl'), join(elsewhere, 'agentd.token')] });
  registries.push(registry);
  return registry;
}

type Outcome = { output?: unknown; errno?: string; message?: string };

/** call runs a tool and returns its output or its KernelError as data. */
async function call(registry: ToolRegistry, tool: string, args: object): Promise<Outcome> {
  try {
    return { output: (await registry.call(tool, args as never, CALLER)).output };
  } catch (err) {
    if (!(err instanceof KernelError)) throw err;
    return { errno: err.errno, message: err.message };
  }
}

const py = (registry: ToolRegistry, code: string) => call(registry, 'py', { code });

/** processesWith lists host processes whose command line contains `marker`. */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(marker)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone
    }
  }
  return found;
}

/** overlapping is the most of `spans` ([start, end]) running at one moment. */
const overlapping = (spans: readonly (readonly [number, number])[]) => Math.max(...spans.map(([s]) => spans.filter(([s2, e2]) => s2 <= s && s < e2).length));

describe('how many calls of a command tool run at once', () => {
  // Found by an attacker pass: nothing bounded them (60 sandboxes of one agent filling /tmp took 1.3 GB of memory).
  it('at most max_concurrent at once, at most half of them for one agent: the rest wait their turn, holding no process, within their time limit', async () => {
    const registry = await tools({ py: { ...PY_TOOL, max_concurrent: 4, timeout_ms: 5000 } });
    // Each call says when its process ran: [start, end] in ms.
    const timed = (agentId: string, sleep = 0.8) =>
      Promise.resolve(registry.call('py', { code: `import json, time; s = time.time(); time.sleep(${sleep}); print(json.dumps([s * 1000, time.time() * 1000]))` } as never, { ...CALLER, agentId })).then(
        (r) => JSON.parse((r.output as { stdout: string }).stdout) as [number, number],
        (err: unknown) => (err instanceof KernelError ? err.errno : String(err)),
      );
    const runs = await Promise.all([timed('a'), timed('a'), timed('a'), timed('b'), timed('b'), timed('c')]);
    const spans = runs as [number, number][];
    expect(overlapping(spans)).toBeLessThanOrEqual(4);
    expect(overlapping(spans.slice(0, 3))).toBeLessThanOrEqual(2);
    // Agent a's third call ran after one of its first two had ended; c's did not wait for a's third.
    expect(spans[2]![0]).toBeGreaterThanOrEqual(Math.min(spans[0]![1], spans[1]![1]) - 50);
    // A call that waits past its own time limit ends as any call that takes too long does: the third waits ~3 s for one of
    // the first two, then needs 3 s more (5 s in all; the first two keep 2 s of margin under load).
    const [slow1, slow2, late] = await Promise.all([timed('d', 3), timed('d', 3), timed('d', 3)]);
    expect([typeof slow1, typeof slow2, late]).toEqual(['object', 'object', 'ETIMEDOUT']);
  }, 30_000);
});

describe('command tools in the sandbox', () => {
  it("cannot see the kernel's state dir, token file or decision log, nor the configuration file, even inside the tool's own directory", async () => {
    const registry = await tools({ py: PY_TOOL });
    const reads = await Promise.all(
      ['state/agentd.token', join(stateDir, 'decisions.jsonl'), join(elsewhere, 'agentd.token'), 'agentd.yaml', '/etc/shadow'].map((path) => py(registry, `print(open(${JSON.stringify(path)}).read())`)),
    );
    expect(reads.map((r) => r.errno)).toEqual(['EIO', 'EIO', 'EIO', 'EIO', 'EIO']);
    expect(reads[0]!.message).toMatch(/^tool 'py' exited 1: .*FileNotFoundError: \[Errno 2\] No such file or directory: 'state\/agentd.token'$/s);
    expect(reads[2]!.message).toMatch(/FileNotFoundError/);
    expect(reads[3]!.message).toMatch(/PermissionError: \[Errno 13\] Permission denied: 'agentd.yaml'$/);
    const listing = await py(registry, "import json, os; print(json.dumps([sorted(os.listdir('.')), os.listdir('state'), open('data.txt').read().strip(), os.listdir('/')]))");
    const [cwd, state, data, root] = JSON.parse((listing.output as { stdout: string }).stdout) as [string[], string[], string, string[]];
    expect([cwd, state, data]).toEqual([['agentd.yaml', 'data.txt', 'state'], [], 'tool data']);
    expect(root).toEqual(expect.arrayContaining(['usr', 'etc', 'tmp', 'proc', 'dev']));
    expect(root.filter((d) => ['root', 'home', 'var', 'run', 'srv', 'opt', 'mnt', 'work'].includes(d))).toEqual([]);
    expect(JSON.stringify([reads, listing])).not.toContain(SECRET);
  });

  it('writes only into its scratch folder (cwd stays read-only; /tmp, HOME and TMPDIR are the scratch), of scratch_mib, gone after the call', async () => {
    const registry = await tools({ py: { ...PY_TOOL, sandbox: { scratch_mib: 4 } } });
    const marker = `escape-${process.pid}-${Date.now()}`;
    const refused = await Promise.all(
      ['escape.txt', join(dir, 'escape.txt'), join(stateDir, 'escape.txt'), '/usr/escape.txt', '/etc/escape.txt', '/escape.txt'].map((path) => py(registry, `open(${JSON.stringify(path)}, 'w').write('x')`)),
    );
    expect(refused.map((r) => r.errno)).toEqual(Array.from({ length: 6 }, () => 'EIO'));
    expect(refused[0]!.message).toMatch(/OSError: \[Errno 30\] Read-only file system: 'escape.txt'$/);
    const wrote = await py(
      registry,
      `import os
for d in ['/tmp', os.environ['HOME'], os.environ['TMPDIR']]: open(os.path.join(d, ${JSON.stringify(marker)}), 'w').write('x')
print(os.getcwd(), os.environ['HOME'], os.environ['TMPDIR'], ${JSON.stringify(marker)} in os.listdir('/tmp'), sorted(os.environ))`,
    );
    expect(wrote.output).toEqual({ stdout: `${dir} /tmp /tmp True ['HOME', 'LC_CTYPE', 'PATH', 'PWD', 'TMPDIR']\n` });
    expect(existsSync(join(dir, 'escape.txt'))).toBe(false);
    expect(existsSync(join(stateDir, 'escape.txt'))).toBe(false);
    expect(existsSync(join(tmpdir(), marker))).toBe(false);
    const next = await py(registry, "import os; print(os.listdir('/tmp'), os.listdir(os.environ['HOME']))");
    expect((next.output as { stdout: string }).stdout).not.toContain(marker);
    const full = await py(registry, "open('/tmp/big', 'wb').write(b'x' * (5 * 1024 * 1024))");
    expect(full).toMatchObject({ errno: 'EIO', message: expect.stringMatching(/No space left on device/) });
  });

  it('has no network unless it declares one: the loopback server sees no connection; with network: true it does', async () => {
    const registry = await tools({ py: PY_TOOL, 'py.net': { ...PY_TOOL, sandbox: { network: true } } });
    const connect = `import socket; s = socket.create_connection(('127.0.0.1', ${port}), timeout=5); print(s.recv(100).decode().strip())`;
    const before = connections;
    const isolated = await py(registry, connect);
    expect(isolated).toMatchObject({ errno: 'EIO', message: expect.stringMatching(/ConnectionRefusedError|Network is unreachable/) });
    expect(connections).toBe(before);
    const networked = await call(registry, 'py.net', { code: connect });
    expect(networked.output).toEqual({ stdout: 'hello from the host\n' });
    expect(connections).toBe(before + 1);
  });

  it('a busy loop is stopped at its CPU limit (python and sh): ETIMEDOUT', async () => {
    const registry = await tools({
      py: { ...PY_TOOL, sandbox: { cpu_seconds: 1 } },
      'sh.spin': { command: ['sh', '-c', 'while :; do :; done'], description: 'spins', sandbox: { cpu_seconds: 1 } },
    });
    const outcomes = await Promise.all([py(registry, 'while True: pass'), call(registry, 'sh.spin', {})]);
    expect(outcomes).toEqual([
      { errno: 'ETIMEDOUT', message: "tool 'py' used up its CPU limit of 1 s and was stopped (SIGXCPU)" },
      { errno: 'ETIMEDOUT', message: "tool 'sh.spin' used up its CPU limit of 1 s and was stopped (SIGXCPU)" },
    ]);
  });

  it('stderr is bounded as stdout is: a flood is EFBIG at the output limit, not read until the timeout; a failure shows its last 2,000 bytes (an attacker pass)', async () => {
    const registry = await tools({
      'sh.noisy': { command: ['sh', '-c', 'yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa >&2'], description: 'floods stderr', max_output_bytes: 100_000, timeout_ms: 20_000 },
      'sh.fails': { command: ['sh', '-c', 'printf "%05000d" 0 >&2; echo last words >&2; exit 3'], description: 'fails', max_output_bytes: 100_000 },
    });
    const [noisy, fails] = await Promise.all([call(registry, 'sh.noisy', {}), call(registry, 'sh.fails', {})]);
    expect(noisy).toEqual({ errno: 'EFBIG', message: "tool 'sh.noisy' printed more than its limit of 100000 bytes on stderr" });
    expect(fails.errno).toBe('EIO');
    expect(fails.message).toMatch(/^tool 'sh\.fails' exited 3: 0+last words$/);
    expect(fails.message!.length).toBeLessThan(2100);
  });

  it('allocating past the memory limit fails the call (python, sh, node): EIO naming the limit', async () => {
    const node = [process.execPath, '-e', "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>eval(JSON.parse(s).code))"];
    const registry = await tools({
      py: { ...PY_TOOL, sandbox: { memory_mib: 128 } },
      'sh.grow': { command: ['sh', '-c', 'x=$(head -c 300000000 /dev/zero | tr "\\0" a); echo ${#x}'], description: 'grows', sandbox: { memory_mib: 64 } },
      'node.grow': { command: node, description: 'grows', sandbox: { memory_mib: 1536 } },
    });
    const outcomes = await Promise.all([
      py(registry, 'b = bytearray(512 * 1024 * 1024)'),
      call(registry, 'sh.grow', {}),
      call(registry, 'node.grow', { code: 'const a = []; for (;;) a.push(Buffer.alloc(1e8, 1));' }),
    ]);
    expect(outcomes.map((o) => o.errno)).toEqual(['EIO', 'EIO', 'EIO']);
    expect(outcomes[0]!.message).toMatch(/^tool 'py' ran out of memory \(its memory limit is 128 MiB of address space\): .*MemoryError$/s);
    expect(outcomes[1]!.message).toBe("tool 'sh.grow' was killed by SIGSEGV (its memory limit is 64 MiB of address space)");
    expect(outcomes[2]!.message).toMatch(/^tool 'node.grow' ran out of memory \(its memory limit is 1536 MiB of address space\): .*Failed to allocate memory/s);
  });

  it('every process a call starts ends with it: children, a setsid daemon and a burst of forks are gone after the timeout', async () => {
    const marker = `7${String(process.pid).padStart(7, '0')}.5`;
    const registry = await tools({ 'py.forks': { ...PY_TOOL, command: PY, timeout_ms: 1500 } });
    const code = `import os, subprocess, time
subprocess.Popen(['setsid', 'sleep', '${marker}'])
for i in range(100):
    if os.fork() == 0:
        os.execvp('sleep', ['sleep', '${marker}'])
time.sleep(60)`;
    const outcome = await call(registry, 'py.forks', { code });
    expect(outcome).toEqual({ errno: 'ETIMEDOUT', message: "tool 'py.forks' timed out after 1500 ms" });
    await until(() => processesWith(marker).length === 0, () => `the call's processes to be gone (left: ${processesWith(marker).join('; ')})`);
  });

  it('an agent in a real kernel calls the sandboxed tool through SYS_EXEC; the token stays out of reach', async () => {
    const registry = await tools({ py: PY_TOOL });
    const k = toolKernel({ policy: policy('{ id: run-py, effect: allow, syscalls: [SYS_EXEC], tools: [py] }'), registry });
    const value = await execReport<Outcome[]>(k, `${TRY}report([
      tryExec('py', { code: 'print(6 * 7)' }),
      tryExec('py', { code: 'print(open("state/agentd.token").read())' }),
      tryExec('py', { code: 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:${port}/", timeout=5)' }),
    ]);`);
    expect(value[0]).toEqual({ stdout: '42\n' });
    expect(value[1]).toMatchObject({ errno: 'EIO', message: expect.stringMatching(/FileNotFoundError/) });
    expect(value[2]).toMatchObject({ errno: 'EIO', message: expect.stringMatching(/Connection refused|Network is unreachable/) });
    expect(JSON.stringify(value)).not.toContain(SECRET);
    expect(syscallRecords(k, 'SYS_EXEC').map((r) => [r.effect, r.rule])).toEqual([['allow', 'run-py'], ['allow', 'run-py'], ['allow', 'run-py']]);
  });
});

/** build makes a registry with the one command tool `t`. */
async function build(command: object, hide: string[] = []): Promise<ToolRegistry> {
  return buildRegistry(parseToolsConfig({ tools: { builtin: {}, commands: { t: { description: 'd', ...command } } } }, join(dir, 'agentd.yaml')), { hide });
}

describe('sandbox configuration', () => {

  it.each([
    [{ command: ['no-such-program-here'] }, false, "tools.commands.t.command: 'no-such-program-here' is not on the sandbox's PATH"],
    [{ command: ['./missing.sh'] }, false, 'tools.commands.t.command: '],
    [{ command: ['true'], sandbox: { read_only: ['no/such/dir'] } }, false, 'tools.commands.t.sandbox.read_only[0]: '],
    [{ command: ['true'], cwd: 'state' }, true, 'tools.commands.t.cwd: '],
    [{ command: ['true'], cwd: '/' }, false, "tools.commands.t.cwd: / would cover the sandbox's own /tmp, /proc or /dev"],
    [{ command: ['true'], sandbox: { memory_mib: 1 } }, false, 'tools.commands.t.sandbox.memory_mib: must be >= 16'],
    [{ command: ['true'], sandbox: { processes: 5 } }, false, 'tools.commands.t.sandbox.processes: is not a known field'],
  ])('%j (state hidden: %s) → %s', async (command, hideState, problem) => {
    await expect(build(command, hideState ? [stateDir] : [])).rejects.toThrow(problem);
  });

  it('a cwd inside a hidden path is refused, naming both', async () => {
    await expect(build({ command: ['true'], cwd: 'state/checkpoints' }, [stateDir])).rejects.toThrow(
      `${join(dir, 'agentd.yaml')}: tools.commands.t.cwd: ${join(stateDir, 'checkpoints')} lies inside ${stateDir}, which is hidden from tools`,
    );
  });

  it('without bubblewrap a sandboxed command tool is a configuration error naming it; sandbox: false still builds (unconfined)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'agent-kernel-no-bwrap-'));
    const script = `
      import { buildRegistry, parseToolsConfig } from ${JSON.stringify(join(REPO, 'kernel/tools/config.ts'))};
      const build = (sandbox) => buildRegistry(parseToolsConfig({ tools: { builtin: {}, commands: { t: { command: ['/bin/true'], description: 'd', ...sandbox } } } }, 'no-bwrap.yaml', process.cwd()));
      const out = [];
      try { await build({}); out.push('built'); } catch (e) { out.push(e.message); }
      const plain = await build({ sandbox: false });
      out.push((await plain.call('t', {}, { pid: 1, agentId: 'a', addTokens() {} })).output);
      console.log(JSON.stringify(out));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, env: { PATH: empty }, encoding: 'utf8', timeout: 30_000 });
    rmSync(empty, { recursive: true, force: true });
    expect(child.stderr).toBe('');
    const [error, output] = JSON.parse(child.stdout) as [string, unknown];
    expect(error).toMatch(/^no-bwrap\.yaml: tools\.commands\.t\.sandbox: bubblewrap \(bwrap\) is not installed, and command tools run under it: install it .* or set sandbox: false for the tool \(unsafe/);
    expect(output).toEqual({ stdout: '' });
  });
});
