/**
 * A program whose folder is reached through a symbolic link (~/work -> /mnt/data/work; on macOS /tmp ->
 * /private/tmp) builds: the project folder is found from the entry's real path, as esbuild hands the guard real
 * paths. Before, the entry itself was refused as outside its project folder (an attacker pass).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildProgramFile } from '../../kernel/program-build.ts';

let base: string;
let saved: string | undefined;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'zz-build-symlinked-'));
  saved = process.env.AGENT_KERNEL_CACHE;
  process.env.AGENT_KERNEL_CACHE = join(base, 'cache');
});
afterAll(() => {
  if (saved === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = saved;
  rmSync(base, { recursive: true, force: true });
});

it('a program whose folder is reached through a symbolic link builds (its files are all inside it)', async () => {
  const real = join(base, 'real', 'proj');
  mkdirSync(real, { recursive: true });
  writeFileSync(join(real, 'package.json'), '{"name":"p"}');
  writeFileSync(join(real, 'lib.ts'), 'export const v: string = "ok";');
  writeFileSync(join(real, 'agent.ts'), 'import { v } from "./lib.ts"; console.log(v);');
  symlinkSync(join(base, 'real'), join(base, 'link'));
  const program = await buildProgramFile(join(base, 'link', 'proj', 'agent.ts'));
  expect(program.source).toContain('"ok"');
});
