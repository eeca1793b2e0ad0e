/**
 * `agentctl run` as a newcomer meets it, as real child processes: a run
 * that ends on a denied call says in one line what would let the call
 * through (the manifest's capability and the policy's rule together), and
 * following that line makes the call work; Ctrl-C in a terminal exits 131
 * (128 + SIGINT) even with a shell between the terminal and agentctl, as
 * `npx agentctl` has (a pseudo-terminal from util-linux `script`). A run
 * that ends on fetch's refusal of an address (loopback, private) names
 * --tools FILE and the YAML that allows it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentctl, NODE_FLAGS, REPO, scratch } from './governance/helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const EXEC = files.write('exec.ts', "console.log(sys.exec('time.now', {}).tool);\n");
const DEFAULT_POLICY = readFileSync(join(REPO, 'kernel/policy/default-policy.yaml'), 'utf8');

/** hintOf is the hint line of agentctl's stderr, without its prefix. */
function hintOf(stderr: string): string | undefined {
  return stderr.split('\n').find((l) => l.startsWith('agentctl: hint: '))?.slice('agentctl: hint: '.length);
}

describe('agentctl run: a run ended by a denied call says what would allow it', () => {
  it('a tool call without capability or rule: one line naming both, and following it makes the call work', async () => {
    const first = await agentctl(['run', EXEC]);
    expect(first.status).toBe(1);
    expect(first.stderr).toMatch(/^SyscallError: SYS_EXEC denied by capability: no capability tool:time\.now\n/);
    const hint = hintOf(first.stderr)!;
    expect(hint).toMatch(/^to allow this call add capability 'tool:time\.now' to the manifest \(--manifest\) and a rule allowing tool time\.now to the policy \(--policy\), e\.g\. \{ .* \} \(start from kernel\/policy\/default-policy\.yaml/);
    expect(first.stderr.split('\n').filter((l) => l.startsWith('agentctl: hint: '))).toHaveLength(1);

    // With the capability alone, the same call is refused by the policy, and the hint says only what is left.
    const manifest = files.write('exec.manifest.yaml', 'capabilities: ["tool:time.now"]\n');
    const second = await agentctl(['run', EXEC, '--manifest', manifest]);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/^SyscallError: SYS_EXEC denied by default-deny: no rule matches\n/);
    expect(hintOf(second.stderr)).toMatch(/^to allow this call add a rule allowing tool time\.now to the policy \(--policy\), e\.g\. \{/);

    // The example rule, added to the default policy, lets the call through.
    const rule = /e\.g\. (\{ [^}]* \})/.exec(hint)![1]!;
    const policy = files.write('exec.policy.yaml', `${DEFAULT_POLICY.trimEnd()}\n  - ${rule}\n`);
    const third = await agentctl(['run', EXEC, '--manifest', manifest, '--policy', policy]);
    expect([third.status, third.stdout, third.stderr]).toEqual([0, 'time.now\n', '']);

    // The capability missing under a policy that allows the call: only the manifest is named.
    const fourth = await agentctl(['run', EXEC, '--policy', policy]);
    expect(hintOf(fourth.stderr)).toBe("to allow this call add capability 'tool:time.now' to the manifest (--manifest); the policy already allows it");
  });

  it("a rule that denies, with on_violation: the hint names that rule; the kernel's own rules are said to be final", async () => {
    const policy = files.write('no-time.yaml', 'version: 1\nrules:\n  - id: no-time\n    effect: deny\n    syscalls: [SYS_EXEC]\n    tools: ["time.*"]\n    on_violation: SIGPOLICY\n');
    const manifest = files.write('time.manifest.yaml', 'capabilities: ["tool:time.now"]\n');
    const denied = await agentctl(['run', EXEC, '--policy', policy, '--manifest', manifest]);
    expect(denied.status).toBe(136);
    expect(hintOf(denied.stderr)).toBe("to allow this call change the policy's rule no-time, which denies it (--policy)");

    const state = files.write('state.ts', "sys.writeFile('state/x', 'y');\n");
    const kernelRule = await agentctl(['run', state]);
    expect(kernelRule.status).toBe(1);
    expect(hintOf(kernelRule.stderr)).toBe("kernel.state-read-only is the kernel's own rule: no manifest or policy lets this call through");
  });

  it('no hint when the program survives the denial, or ends for another reason', async () => {
    const caught = files.write('caught.ts', "try { sys.exec('time.now', {}); } catch { console.log('caught'); }\n");
    const survived = await agentctl(['run', caught]);
    expect([survived.status, survived.stdout, survived.stderr]).toEqual([0, 'caught\n', '']);
    const other = files.write('other.ts', "try { sys.exec('time.now', {}); } catch {}\nthrow new Error('something else');\n");
    const failed = await agentctl(['run', other]);
    expect(failed.status).toBe(1);
    expect(hintOf(failed.stderr)).toBeUndefined();
  });
});

describe('agentctl run: fetch refused an address', () => {
  it('the hint names --tools FILE and the two lines of YAML that allow the address; following it lets the request through', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const port = (server.address() as AddressInfo).port;
      const program = files.write('local.ts', `const r = await fetch('http://127.0.0.1:${port}/');\nconsole.log(await r.text());\n`);
      const manifest = files.write('fetch.manifest.yaml', 'capabilities: ["tool:http.fetch"]\n');
      const policy = files.write('fetch.policy.yaml', `${DEFAULT_POLICY.trimEnd()}\n  - { id: allow-fetch, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch] }\n`);
      const refused = await agentctl(['run', program, '--manifest', manifest, '--policy', policy]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('allow it with tools.builtin.http.fetch.allow_addresses');
      const at = refused.stderr.indexOf('agentctl: hint: ');
      expect(refused.stderr.slice(at)).toBe('agentctl: hint: to let fetch connect to 127.0.0.1, list it in a tools file given as --tools FILE, e.g.:\n  tools:\n    builtin: { http.fetch: { allow_addresses: ["127.0.0.1"] } }\n');

      // The two lines, as a file: the request goes through.
      const yaml = refused.stderr.slice(at).split('\n').slice(1, 3).join('\n');
      const tools = files.write('local.tools.yaml', `${yaml}\n`);
      const allowed = await agentctl(['run', program, '--manifest', manifest, '--policy', policy, '--tools', tools]);
      expect([allowed.status, allowed.stdout, allowed.stderr]).toEqual([0, 'ok\n', '']);

      // A tools file given that does not list it: the hint names that file.
      const other = files.write('other.tools.yaml', 'tools:\n  builtin: { http.fetch: {} }\n');
      const again = await agentctl(['run', program, '--manifest', manifest, '--policy', policy, '--tools', other]);
      expect(hintOf(again.stderr)).toBe(`to let fetch connect to 127.0.0.1, list it in the tools file ${other} (--tools), e.g.:`);
    } finally {
      server.close();
    }
  });
});

const HAS_SCRIPT = process.platform === 'linux' && spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/** ctrlC runs `command` (a shell command line) in a pseudo-terminal, presses Ctrl-C once it printed `ready`, and resolves with its exit status and output. */
function ctrlC(command: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let pressed = false;
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no exit after Ctrl-C: ${output}`));
    }, 30_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (!pressed && output.includes('ready')) {
        pressed = true;
        child.stdin.write('\x03');
      }
    });
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(guard);
      resolve({ status, output });
    });
  });
}

describe.skipIf(!HAS_SCRIPT)('agentctl run in a terminal', () => {
  const idle = files.write('idle.ts', "console.log('ready'); await new Promise(() => {});\n");
  const run = [process.execPath, ...NODE_FLAGS, 'bin/agentctl.ts', 'run', idle].join(' ');

  it('Ctrl-C ends the agent with SIGINT: 131, with a shell in between as under npx, and without', async () => {
    // `sh -c '…; exit $?'`: a shell that waits for agentctl, as npx's does; a terminal's SIGINT would kill it too (130).
    const [viaShell, direct] = await Promise.all([ctrlC(`sh -c '${run}; exit $?'`), ctrlC(run)]);
    expect(viaShell.status, viaShell.output).toBe(131);
    expect(viaShell.output).toContain('agentctl: pid 1 killed by SIGINT (SIGINT from operator)');
    expect(direct.status, direct.output).toBe(131);
  }, 60_000);
});

/** runUntil runs `agentctl run FILE`, waits until its stderr matches `until` (or `ms` pass), then sends SIGINT; resolves with its status and stderr. */
function runUntil(file: string, until: RegExp, ms: number): Promise<{ status: number | null; stderr: string; matched: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, 'bin/agentctl.ts', 'run', file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let matched = false;
    const stop = setTimeout(() => child.kill('SIGINT'), ms);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (!matched && until.test(stderr)) {
        matched = true;
        clearTimeout(stop);
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr, matched }));
  });
}

describe('agentctl run: an agent waiting on nothing', () => {
  const NOTE = /^agentctl: pid 1 is waiting on a promise nothing can settle \(no timers, calls, reads or signal handlers pending\); Ctrl-C ends it$/m;

  it('is said once, a few seconds in; one waiting for a signal it handles, or for a timer, is not', async () => {
    const stuck = files.write('stuck.ts', "console.log('ready'); await new Promise(() => {});\n");
    const handler = files.write('handler.ts', "console.log('ready'); await new Promise((resolve) => sys.signal.on('SIGUSR1', resolve));\n");
    const timer = files.write('timer.ts', "console.log('ready'); await new Promise((resolve) => setTimeout(resolve, 60_000));\n");
    const [a, b, c] = await Promise.all([runUntil(stuck, NOTE, 20_000), runUntil(handler, NOTE, 8000), runUntil(timer, NOTE, 8000)]);
    expect({ matched: a.matched, notes: a.stderr.match(new RegExp(NOTE.source, 'gm'))?.length, status: a.status }).toEqual({ matched: true, notes: 1, status: 131 });
    expect({ matched: b.matched, status: b.status }).toEqual({ matched: false, status: 131 });
    expect({ matched: c.matched, status: c.status }).toEqual({ matched: false, status: 131 });
  }, 60_000);
});
