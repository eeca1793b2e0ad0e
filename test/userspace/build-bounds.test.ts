/**
 * A program from the host's disk is built in a build process of its own (kernel/build-process.ts), under a memory
 * limit, a time limit and a cap on its answer: a ~450-byte TypeScript enum in node_modules, which esbuild folds to
 * 128 MiB, took the kernel's own process to ~750 MB (1.4 GB and 26 s with one member more) when esbuild's service
 * handed its output back there (an attacker pass). A FIFO imported from inside the project folder is refused as
 * not a regular file, as the entry is; esbuild waited on it for ever.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync, constants } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withTempBuildCache } from '../build-cache-env.ts';
import { buildProgramFile } from '../../kernel/program-build.ts';
import { until } from '../until.ts';

const scratch = withTempBuildCache('build-bounds-');

/** enumBomb: member n is member n-1 twice; esbuild folds it to 16 × 2^(members-1) characters. */
const enumBomb = (members: number) =>
  `export enum E { A0 = "${'x'.repeat(16)}",${Array.from({ length: members - 1 }, (_, i) => ` A${i + 1} = A${i} + A${i},`).join('')} }\nexport const big = E.A${members - 1};\n`;

describe('a hostile package cannot make the build take the kernel\'s memory', () => {
  it('a ~450-byte enum in node_modules is refused without ~128 MiB of output coming into the kernel process', async () => {
    const dir = join(scratch.folder(), 'enum');
    mkdirSync(join(dir, 'node_modules', 'tiny'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"p","dependencies":{"tiny":"1.0.0"}}');
    writeFileSync(join(dir, 'node_modules', 'tiny', 'package.json'), '{"name":"tiny","version":"1.0.0","main":"index.ts"}');
    writeFileSync(join(dir, 'node_modules', 'tiny', 'index.ts'), enumBomb(24));
    writeFileSync(join(dir, 'agent.ts'), 'import { big } from "tiny"; console.log(big.length);');
    const before = process.memoryUsage().rss;
    let peak = before;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
    let errno: string | undefined;
    try {
      await buildProgramFile(join(dir, 'agent.ts'));
    } catch (err) {
      errno = (err as { errno?: string }).errno;
    } finally {
      clearInterval(sample);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(['EFBIG', 'ENOEXEC']).toContain(errno);
    // The VFS path's own bound (test/containment/spawn.test.ts): what the compiler made never came into the kernel's process past 16 MiB.
    expect(peak - before).toBeLessThan(300 * 1024 * 1024);
  }, 30_000);
});

describe('a build never waits for ever on a file', () => {
  it('a FIFO imported from inside the project folder is refused, as the entry would be', async () => {
    const dir = join(scratch.folder(), 'fifo');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"p"}');
    execFileSync('mkfifo', [join(dir, 'data.txt')]);
    writeFileSync(join(dir, 'agent.js'), 'import d from "./data.txt"; console.log(d);');
    const outcome = await Promise.race([
      buildProgramFile(join(dir, 'agent.js')).then(
        () => 'built',
        (err: unknown) => String((err as { errno?: string }).errno),
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('still building after 5 s'), 5_000)),
    ]);
    // Unblock esbuild's read (a writer that closes at once), so its service does not stay stuck in this worker.
    try {
      closeSync(openSync(join(dir, 'data.txt'), constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader any more
    }
    expect(outcome).toBe('ENOEXEC');
  }, 15_000);
});

/** esbuildOf lists the processes of process group `group` (the build process and esbuild's). */
function esbuildOf(group: string): string {
  try {
    return execFileSync('pgrep', ['-g', group], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

describe('a build ends with the process that asked for it', () => {
  it('SIGKILL of the kernel mid-build ends the build process and esbuild\'s', async () => {
    const dir = join(scratch.folder(), 'orphan');
    mkdirSync(join(dir, 'node_modules', 'tiny'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"p"}');
    writeFileSync(join(dir, 'node_modules', 'tiny', 'package.json'), '{"name":"tiny","main":"index.ts"}');
    // One member more than above: esbuild takes tens of seconds on it.
    writeFileSync(join(dir, 'node_modules', 'tiny', 'index.ts'), enumBomb(25));
    writeFileSync(join(dir, 'agent.ts'), 'import { big } from "tiny"; console.log(big.length);');
    const script = join(dir, 'kernel.ts');
    writeFileSync(script, `import { buildProgramFile } from ${JSON.stringify(join(process.cwd(), 'kernel', 'program-build.ts'))};\nawait buildProgramFile(${JSON.stringify(join(dir, 'agent.ts'))});\n`);
    const kernel = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', script], { stdio: 'ignore', env: { ...process.env, AGENT_KERNEL_CACHE: join(scratch.folder(), 'orphan-cache') } });
    const building = () => {
      try {
        return execFileSync('pgrep', ['-f', join(dir, 'agent.ts')], { encoding: 'utf8' }).trim() !== '';
      } catch {
        return false;
      }
    };
    await until(building, 'the build process to start', 10_000);
    const group = execFileSync('pgrep', ['-f', join(dir, 'agent.ts')], { encoding: 'utf8' }).trim().split('\n')[0]!;
    await until(() => esbuildOf(group).split('\n').length >= 2, "esbuild's process to start", 10_000);
    kernel.kill('SIGKILL');
    await until(() => !building() && esbuildOf(group) === '', 'the build and esbuild to end', 3_000);
  }, 30_000);
});
