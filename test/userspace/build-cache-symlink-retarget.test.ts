/**
 * Found by a review (fixed) of 9f8bc9e (build cache: folders recorded by a digest of their module-file names, not size+mtime).
 * esbuild reads files by their real paths, so a file reached through a symbolic link to a folder is recorded at its
 * target. The link itself lives in a folder whose listing counts only names ending in a module extension (or, in
 * node_modules, names only): re-pointing the link (`lib -> v1` to `lib -> v2`, or a pnpm-style
 * `node_modules/dep -> .pnpm/dep@1/...` upgraded to `dep@2`) changes no name and no file the old build read, so the
 * cached, stale program is run. Before 9f8bc9e the folder holding the link changed its mtime and the build was redone.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildProgramFile } from '../../kernel/program-build.ts';

const base = mkdtempSync(join(tmpdir(), 'build-symlink-'));
const saved = process.env.AGENT_KERNEL_CACHE;
afterAll(() => {
  if (saved === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = saved;
  rmSync(base, { recursive: true, force: true });
});

it('re-pointing a symbolic link to a folder rebuilds the program', async () => {
  const project = join(base, 'proj');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{"name":"proj"}');
  for (const v of ['v1', 'v2']) {
    mkdirSync(join(project, v));
    writeFileSync(join(project, v, 'value.ts'), `export const value = "version-${v}";\n`);
  }
  symlinkSync('v1', join(project, 'lib'));
  writeFileSync(join(project, 'main.ts'), 'import { value } from "./lib/value.ts";\nconsole.log(value);\n');
  process.env.AGENT_KERNEL_CACHE = join(base, 'cache');
  expect((await buildProgramFile(join(project, 'main.ts'))).source).toContain('version-v1');
  unlinkSync(join(project, 'lib'));
  symlinkSync('v2', join(project, 'lib'));
  expect((await buildProgramFile(join(project, 'main.ts'))).source).toContain('version-v2');
});

it('a pnpm-style upgrade (node_modules/dep re-pointed to a new version) rebuilds the program', async () => {
  const project = join(base, 'pnpm');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{"name":"pnpm"}');
  for (const v of ['1.0.0', '2.0.0']) {
    const dir = join(project, 'node_modules', '.pnpm', `dep@${v}`, 'node_modules', 'dep');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), `{"name":"dep","version":"${v}","main":"index.js"}`);
    writeFileSync(join(dir, 'index.js'), `export const value = "dep-${v}";\n`);
  }
  symlinkSync('.pnpm/dep@1.0.0/node_modules/dep', join(project, 'node_modules', 'dep'));
  writeFileSync(join(project, 'main.ts'), 'import { value } from "dep";\nconsole.log(value);\n');
  process.env.AGENT_KERNEL_CACHE = join(base, 'cache');
  expect((await buildProgramFile(join(project, 'main.ts'))).source).toContain('dep-1.0.0');
  unlinkSync(join(project, 'node_modules', 'dep'));
  symlinkSync('.pnpm/dep@2.0.0/node_modules/dep', join(project, 'node_modules', 'dep'));
  expect((await buildProgramFile(join(project, 'main.ts'))).source).toContain('dep-2.0.0');
});
