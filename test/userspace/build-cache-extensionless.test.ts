/**
 * Found by a review (fixed) of 9f8bc9e (build cache: a folder is recorded by the names of its files ending in a module extension).
 * esbuild resolves `import "./util"` to a file named exactly `util` before it tries `util.ts`, and builds it. A
 * folder's listing leaves out names without a module extension, so adding `util` beside `util.ts` changes what the
 * program is built from while the cache entry stays valid: the old program runs. (Before 9f8bc9e the folder's mtime
 * changed and the program was rebuilt.)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildProgramFile } from '../../kernel/program-build.ts';

const base = mkdtempSync(join(tmpdir(), 'build-bare-'));
const saved = process.env.AGENT_KERNEL_CACHE;
afterAll(() => {
  if (saved === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = saved;
  rmSync(base, { recursive: true, force: true });
});

it('a new file named exactly as an extensionless import rebuilds the program', async () => {
  const project = join(base, 'proj');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{"name":"proj"}');
  writeFileSync(join(project, 'util.ts'), 'export const value = "from-util-ts";\n');
  writeFileSync(join(project, 'main.ts'), 'import { value } from "./util";\nconsole.log(value);\n');
  process.env.AGENT_KERNEL_CACHE = join(base, 'cache');
  expect((await buildProgramFile(join(project, 'main.ts'))).source).toContain('from-util-ts');
  writeFileSync(join(project, 'util'), 'export const value = "from-bare-util";\n');
  expect((await buildProgramFile(join(project, 'main.ts'))).source).toContain('from-bare-util');
});
