/**
 * package: the commands as a user installs them. `npm pack`, then `npm
 * install` of the tarball into an empty folder, then, each as a whole child
 * process, wall time:
 * - agentctl_help_ms: `agentctl --help` through the installed command
 *   (node_modules/.bin/agentctl, the built JavaScript);
 * - npx_agentctl_help_ms: the same through `npx agentctl --help`, and
 *   npx_floor_ms: `npx noop`, a package whose bin is an empty script,
 *   installed in the same folder: what npx costs before it runs any
 *   installed command (the physical limit of any CLI started through npx),
 *   measured in the same rounds; npx_over_floor_ms is the difference.
 * "Cold" here is a new process each time; Node's compile cache (which agentctl
 * enables) is warm after the first run, as it is for a user.
 * - agentctl_help_cold_ms: the installed command with an empty compile cache
 *   each run (NODE_COMPILE_CACHE a new folder): the first run after install.
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
  keys: ['agentctl_help_ms', 'agentctl_help_cold_ms', 'npx_agentctl_help_ms', 'npx_floor_ms', 'npx_over_floor_ms'],
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
      const noop = join(dir, 'noop');
      mkdirSync(noop);
      writeFileSync(join(noop, 'package.json'), JSON.stringify({ name: 'noop', version: '1.0.0', bin: { noop: 'noop.js' } }));
      writeFileSync(join(noop, 'noop.js'), '#!/usr/bin/env node\n');
      execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packs, readdirSync(packs)[0]!), noop], { cwd: app, env, stdio: 'ignore' });
      const bin = join(app, 'node_modules', '.bin', 'agentctl');
      const direct: number[] = [];
      const cold: number[] = [];
      const npx: number[] = [];
      const alone: number[] = [];
      for (let i = 0; i < RUNS + 2; i++) {
        const d = await timed(bin, ['--help'], app, env);
        const c = await timed(bin, ['--help'], app, { ...env, NODE_COMPILE_CACHE: mkdtempSync(join(dir, 'compile-cache-')) });
        const n = await timed('npx', ['agentctl', '--help'], app, env);
        const a = await timed('npx', ['noop'], app, env);
        if (i < 2) continue;
        direct.push(d);
        cold.push(c);
        npx.push(n);
        alone.push(a);
      }
      const over = npx.map((n, i) => n - alone[i]!);
      log(`package: agentctl --help ${spread(direct)} ms (${spread(cold)} ms with an empty compile cache); npx agentctl --help ${spread(npx)} ms; npx noop ${spread(alone)} ms`);
      return [
        { key: 'agentctl_help_ms', value: median(direct), unit: 'ms', target: { op: '<=', bound: 150 }, note: `installed command, whole process, ${spread(direct)} ms` },
        { key: 'agentctl_help_cold_ms', value: median(cold), unit: 'ms', target: { op: '<=', bound: 150 }, note: `installed command, an empty compile cache each run, ${spread(cold)} ms` },
        { key: 'npx_agentctl_help_ms', value: median(npx), unit: 'ms', target: { op: '<=', bound: 150 }, note: `through npx, ${spread(npx)} ms; npx's own cost is npx_floor_ms` },
        { key: 'npx_floor_ms', value: median(alone), unit: 'ms', note: `npx noop (an empty bin in the same folder), same rounds, ${spread(alone)} ms` },
        { key: 'npx_over_floor_ms', value: median(over), unit: 'ms', note: `npx agentctl --help − npx noop per round, ${spread(over)} ms: what agentctl adds to npx's own start` },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
