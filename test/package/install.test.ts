/**
 * The package as a user installs it: `npm pack` (which builds dist/), then
 * `npm install ./agent-kernel-*.tgz` into an empty folder, then the installed
 * commands and library. Nothing runs from the repository's TypeScript here:
 * the installed package has none (Node does not strip types under
 * node_modules), so everything below runs the built JavaScript.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
/** Installing resolves the dependencies from the registry (the npm cache first): allow for a slow registry. */
const INSTALL_MS = 300_000;

const dir = mkdtempSync(join(tmpdir(), 'package-test-'));
const app = join(dir, 'app');
// The Node running the tests (24) first on PATH, for the `#!/usr/bin/env node` of the installed commands and for npm.
const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
for (const name of ['AGENTD_URL', 'AGENTD_TOKEN', 'AGENTD_STATE_DIR', 'NODE_OPTIONS']) delete env[name];
const bin = (name: string) => join(app, 'node_modules', '.bin', name);
const npm = 'npm';

let daemon: ChildProcess | undefined;

beforeAll(async () => {
  const packs = join(dir, 'packs');
  mkdirSync(packs);
  await run(npm, ['pack', '--pack-destination', packs], { cwd: REPO, env, maxBuffer: 16 * 1024 * 1024 });
  const tarball = readdirSync(packs).find((f) => f.endsWith('.tgz'));
  if (tarball === undefined) throw new Error(`npm pack left no tarball in ${packs}`);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packs, tarball)], { cwd: app, env, maxBuffer: 16 * 1024 * 1024 });
  writeFileSync(join(app, 'hello.js'), "console.log(`hello from pid ${sys.getpid()}`);\n");
  writeFileSync(join(app, 'typed.ts'), "const who: string = process.argv[2] ?? 'nobody';\nconsole.log(`typed hello, ${who}`);\n");
}, INSTALL_MS);

afterAll(() => {
  daemon?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('ships built JavaScript and declarations, no TypeScript to strip', () => {
    const root = join(app, 'node_modules', 'agent-kernel');
    expect(existsSync(join(root, 'dist', 'kernel', 'kernel.js'))).toBe(true);
    expect(existsSync(join(root, 'dist', 'kernel', 'index.d.ts'))).toBe(true);
    expect(existsSync(join(root, 'userspace', 'agent.d.ts'))).toBe(true);
    expect(existsSync(join(root, 'bin', 'agentctl.ts'))).toBe(false);
  });

  it('agentctl run runs an agent program, JavaScript or TypeScript', async () => {
    const js = await run(bin('agentctl'), ['run', 'hello.js'], { cwd: app, env });
    expect(js.stdout).toBe('hello from pid 1\n');
    const ts = await run(bin('agentctl'), ['run', 'typed.ts', '--', 'Ada'], { cwd: app, env });
    expect(ts.stdout).toBe('typed hello, Ada\n');
  });

  it('agentd serves the kernel; agentctl spawns and lists; the client library and the embedded kernel import', async () => {
    const state = join(dir, 'state');
    daemon = spawn(bin('agentd'), ['--port', '0', '--state-dir', state], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    daemon.stderr!.setEncoding('utf8').on('data', (c: string) => (said += c));
    await new Promise<void>((resolve, reject) => {
      daemon!.stdout!.setEncoding('utf8').on('data', (c: string) => {
        said += c;
        if (said.includes('agentd listening on')) resolve();
      });
      daemon!.on('exit', (code) => reject(new Error(`agentd exited (${code}): ${said}`)));
    });
    const ctlEnv = { ...env, AGENTD_STATE_DIR: state };
    const spawned = await run(bin('agentctl'), ['spawn', 'hello.js', '--json'], { cwd: app, env: ctlEnv });
    const pid = (JSON.parse(spawned.stdout) as { pid: number }).pid;
    const listed = async () => (JSON.parse((await run(bin('agentctl'), ['ps', '--json'], { cwd: app, env: ctlEnv })).stdout) as { pid: number; state: string }[]).find((p) => p.pid === pid);
    // The program is a one-liner: it has ended, or ends within a few listings.
    let seen = (await listed())?.state;
    for (let tries = 0; seen !== 'exited' && tries < 50; tries++) seen = (await listed())?.state;
    expect(seen).toBe('exited');
    const output = await run(bin('agentctl'), ['output', String(pid)], { cwd: app, env: ctlEnv });
    expect(output.stdout).toContain(`hello from pid ${pid}`);

    writeFileSync(
      join(app, 'use.mjs'),
      `import { AgentdClient } from 'agent-kernel/client';
import { Kernel, programFromSource } from 'agent-kernel';
const listed = await AgentdClient.fromEnvironment().ps();
const kernel = new Kernel();
let out = '';
const proc = kernel.spawn(programFromSource('inline.js', 'console.log(6 * 7)'), { stdout: (c) => (out += new TextDecoder().decode(c)) });
const exit = await kernel.wait(proc.pid);
await kernel.shutdown();
console.log(JSON.stringify({ listed: listed.map((p) => p.pid), status: exit.status, out }));
`,
    );
    const used = await run(process.execPath, ['--no-node-snapshot', 'use.mjs'], { cwd: app, env: ctlEnv });
    expect(JSON.parse(used.stdout)).toEqual({ listed: [pid], status: 0, out: '42\n' });
  });
});
