/**
 * package: the commands as a user installs them. `npm pack`, then `npm
 * install` of the tarball into an empty folder, then, each as a whole child
 * process, wall time:
 * - agentctl_help_ms: `agentctl --help` through the installed command
 *   (node_modules/.bin/agentctl, the built JavaScript);
 * - npx_agentctl_help_ms: the same through `npx agentctl --help`, and
 *   npx_alone_ms: `npx --version`, what npm itself costs before it runs any
 *   command, measured in the same rounds.
 * "Cold" here is a new process each time; Node's compile cache (which agentctl
 * enables) is warm after the first run, as it is for a user.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Bench, type BenchOptions, type Figure, median, nowNs, spread } from './stats.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const RUNS = 15;

function timed(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = nowNs();
  return new Promise((resolve, reject) =>
    execFile(command, args, { cwd, env }, (err) => {
      if (err) reject(err);
      else resolve(Number(nowNs() - t0) / 1e6);
    }),
  );
}

export const packageBench: Bench = {
  name: 'package',
  keys: ['agentctl_help_ms', 'npx_agentctl_help_ms', 'npx_alone_ms'],
  async run({ log }: BenchOptions): Promise<Figure[]> {
    const dir = mkdtempSync(join(tmpdir(), 'package-bench-'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
    try {
      const packs = join(dir, 'packs');
      const app = join(dir, 'app');
      mkdirSync(packs);
      mkdirSync(app);
      execFileSync('npm', ['pack', '--pack-destination', packs], { cwd: REPO, env, stdio: 'ignore' });
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
      execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packs, readdirSync(packs)[0]!)], { cwd: app, env, stdio: 'ignore' });
      const bin = join(app, 'node_modules', '.bin', 'agentctl');
      const direct: number[] = [];
      const npx: number[] = [];
      const alone: number[] = [];
      for (let i = 0; i < RUNS + 2; i++) {
        const d = await timed(bin, ['--help'], app, env);
        const n = await timed('npx', ['agentctl', '--help'], app, env);
        const a = await timed('npx', ['--version'], app, env);
        if (i < 2) continue;
        direct.push(d);
        npx.push(n);
        alone.push(a);
      }
      log(`package: agentctl --help ${spread(direct)} ms; npx agentctl --help ${spread(npx)} ms; npx --version ${spread(alone)} ms`);
      return [
        { key: 'agentctl_help_ms', value: median(direct), unit: 'ms', target: { op: '<=', bound: 150 }, note: `installed command, whole process, ${spread(direct)} ms` },
        { key: 'npx_agentctl_help_ms', value: median(npx), unit: 'ms', note: `through npx, ${spread(npx)} ms; npm's own start is npx_alone_ms` },
        { key: 'npx_alone_ms', value: median(alone), unit: 'ms', note: `npx --version, same rounds, ${spread(alone)} ms` },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
