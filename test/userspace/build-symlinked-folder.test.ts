/**
 * A program whose folder is reached through a symbolic link (~/work -> /mnt/data/work; on macOS /tmp ->
 * /private/tmp) builds: the project folder is found from the entry's real path, as esbuild hands the guard real
 * paths. Before, the entry itself was refused as outside its project folder (an attacker pass).
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { withTempBuildCache } from '../build-cache-env.ts';
import { buildProgramFile } from '../../kernel/program-build.ts';

const scratch = withTempBuildCache('build-symlinked-');

it('a program whose folder is reached through a symbolic link builds (its files are all inside it)', async () => {
  const real = join(scratch.folder(), 'real', 'proj');
  mkdirSync(real, { recursive: true });
  writeFileSync(join(real, 'package.json'), '{"name":"p"}');
  writeFileSync(join(real, 'lib.ts'), 'export const v: string = "ok";');
  writeFileSync(join(real, 'agent.ts'), 'import { v } from "./lib.ts"; console.log(v);');
  symlinkSync(join(scratch.folder(), 'real'), join(scratch.folder(), 'link'));
  const program = await buildProgramFile(join(scratch.folder(), 'link', 'proj', 'agent.ts'));
  expect(program.source).toContain('"ok"');
});
