/**
 * A program build refused because a file lies outside the project folder
 * (kernel/program-build.ts) says why and what to do: the file's real path
 * (links followed) is outside, which symbolic link it was reached through
 * (a node_modules linked from another checkout, a package's folder linked
 * pnpm-style, a relative link), and that packages are installed inside the
 * project folder (npm ci there).
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { buildProgramFile, shown } from '../../kernel/program-build.ts';

let base: string;
let savedCache: string | undefined;
beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'build-outside-')));
  savedCache = process.env.AGENT_KERNEL_CACHE;
  process.env.AGENT_KERNEL_CACHE = join(base, 'cache');
  // Another checkout, with the package installed.
  const pkg = join(base, 'other', 'node_modules', '@scope', 'pkg');
  mkdirSync(join(pkg, 'dist'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@scope/pkg', main: 'dist/index.js' }));
  writeFileSync(join(pkg, 'dist', 'index.js'), 'export const x = 1;');
  writeFileSync(join(base, 'other', 'helper.js'), 'export const y = 2;');
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = savedCache;
  rmSync(base, { recursive: true, force: true });
});

/** project makes a project folder `name` whose main.ts is `main`. */
function project(name: string, main: string): string {
  const dir = join(base, name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"name":"p"}');
  writeFileSync(join(dir, 'src', 'main.ts'), main);
  return dir;
}

async function refusal(file: string): Promise<string> {
  try {
    await buildProgramFile(file);
  } catch (err) {
    if (err instanceof KernelError && err.errno === 'ENOEXEC') return err.message;
    throw err;
  }
  throw new Error(`${file} built`);
}

describe('a build refused for a file outside the project folder says why and what to do', () => {
  it('node_modules linked from another checkout: names the link and where it leads, and says to install the packages there', async () => {
    const dir = project('linked', "import { x } from '@scope/pkg';\nconsole.log(x);\n");
    symlinkSync(join(base, 'other', 'node_modules'), join(dir, 'node_modules'));
    const file = join(base, 'other', 'node_modules', '@scope', 'pkg', 'dist', 'index.js');
    expect(await refusal(join(dir, 'src', 'main.ts'))).toBe(
      `${shown(join(dir, 'src', 'main.ts'))}:1:19: ${shown(file)} is outside the program's project folder ${dir} once symbolic links are followed: ${shown(join(dir, 'node_modules'))} is a symbolic link to ${join(base, 'other', 'node_modules')}; packages are built only from inside the project folder: install them there (npm ci in ${dir}), not linked from elsewhere or hoisted above it`,
    );
  });

  it("a package's own folder linked (pnpm, npm link): names that link", async () => {
    const dir = project('pkg-linked', "import { x } from '@scope/pkg';\nconsole.log(x);\n");
    mkdirSync(join(dir, 'node_modules', '@scope'), { recursive: true });
    symlinkSync(join(base, 'other', 'node_modules', '@scope', 'pkg'), join(dir, 'node_modules', '@scope', 'pkg'));
    expect(await refusal(join(dir, 'src', 'main.ts'))).toContain(`: ${shown(join(dir, 'node_modules', '@scope', 'pkg'))} is a symbolic link to ${join(base, 'other', 'node_modules', '@scope', 'pkg')}; packages are built only`);
  });

  it('a relative import through a linked folder: names the link; the advice is about the project folder, not packages', async () => {
    const dir = project('rel-linked', "import { y } from '../shared/helper.js';\nconsole.log(y);\n");
    symlinkSync(join(base, 'other'), join(dir, 'shared'));
    expect(await refusal(join(dir, 'src', 'main.ts'))).toBe(
      `${shown(join(dir, 'src', 'main.ts'))}:1:19: ${shown(join(base, 'other', 'helper.js'))} is outside the program's project folder ${dir} once symbolic links are followed: ${shown(join(dir, 'shared'))} is a symbolic link to ${join(base, 'other')}; a program is built only from files inside its project folder (the nearest folder above it with a package.json)`,
    );
  });

  it('a package hoisted above the project folder (no link): says so, and to install inside', async () => {
    const dir = join(base, 'other', 'app');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"app"}');
    writeFileSync(join(dir, 'main.ts'), "import { x } from '@scope/pkg';\nconsole.log(x);\n");
    expect(await refusal(join(dir, 'main.ts'))).toBe(
      `${shown(join(dir, 'main.ts'))}:1:19: ${shown(join(base, 'other', 'node_modules', '@scope', 'pkg', 'dist', 'index.js'))} is outside the program's project folder ${dir} (its real path, symbolic links followed); packages are built only from inside the project folder: install them there (npm ci in ${dir}), not linked from elsewhere or hoisted above it`,
    );
  });
});
