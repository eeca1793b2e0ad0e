/**
 * Found by a review (fixed) of 591a990 (build cache listing: RESOLVED now also takes names with no dot). esbuild resolves an import to
 * the file named exactly so before it tries the resolve extensions, whatever that name ends with: `import "./util.v2"`
 * finds a new file `util.v2` before `util.v2.ts`. RESOLVED (`\.(tsx|ts|…)$|^[^.]+$`) leaves out `util.v2` (a dot, no
 * module extension), so adding it changes what a fresh build does while the cache entry stays valid: the old
 * program runs. (Before 9f8bc9e the folder's mtime changed and the program was rebuilt.)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildProgramFile } from '../../kernel/program-build.ts';

const base = mkdtempSync(join(tmpdir(), 'build-dotted-'));
const saved = process.env.AGENT_KERNEL_CACHE;
afterAll(() => {
  if (saved === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = saved;
  rmSync(base, { recursive: true, force: true });
});

const outcome = (path: string) =>
  buildProgramFile(path).then(
    (p) => (p.source.includes('from-util-v2-ts') ? 'old program' : p.source.includes('from-bare') ? 'new file' : 'other'),
    (err: Error) => `build fails: ${err.message.slice(0, 80)}`,
  );

it('a new file named exactly as a dotted import is seen by a cached build as by a fresh one', async () => {
  const project = join(base, 'proj');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{"name":"proj"}');
  writeFileSync(join(project, 'util.v2.ts'), 'export const value = "from-util-v2-ts";\n');
  writeFileSync(join(project, 'main.ts'), 'import { value } from "./util.v2";\nconsole.log(value);\n');
  process.env.AGENT_KERNEL_CACHE = join(base, 'cache');
  expect(await outcome(join(project, 'main.ts'))).toBe('old program');
  writeFileSync(join(project, 'util.v2'), 'export const value = "from-bare";\n');
  const cached = await outcome(join(project, 'main.ts'));
  process.env.AGENT_KERNEL_CACHE = join(base, 'fresh-cache');
  const fresh = await outcome(join(project, 'main.ts'));
  expect(fresh).not.toBe('old program');
  expect(cached).toBe(fresh);
}, 30_000);
