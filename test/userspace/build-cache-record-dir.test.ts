/**
 * Found by a review (fixed): program-bundle.ts inputsOf stamps every folder on the way from an input up to the project folder (size and
 * mtime). A folder's mtime changes whenever any entry is created in it, so `agentctl run --record DIR` from inside
 * the project folder (--record wants a new directory every run) rebuilds the program on every run: the recording of
 * one run makes the next one's cache entry stale, although nothing an import could resolve to changed. Checked by
 * hand with agentctl: runs with --record rec1, rec2, rec3 in the project folder each rewrote the cache entry.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildProgramFile } from '../../kernel/program-build.ts';

const base = mkdtempSync(join(tmpdir(), 'build-record-'));
const saved = process.env.AGENT_KERNEL_CACHE;
afterAll(() => {
  if (saved === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = saved;
  rmSync(base, { recursive: true, force: true });
});

it('a recording directory made in the project folder does not make the next run rebuild the program', async () => {
  const project = join(base, 'proj');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{"name":"proj"}');
  writeFileSync(join(project, 'main.ts'), 'import { greet } from "./greet.ts";\nconsole.log(greet());\n');
  writeFileSync(join(project, 'greet.ts'), 'export const greet = () => "hi";\n');
  const cache = join(base, 'cache');
  process.env.AGENT_KERNEL_CACHE = cache;
  await buildProgramFile(join(project, 'main.ts'));
  const entry = join(cache, readdirSync(cache).find((f) => f.endsWith('.json'))!);
  const written = statSync(entry).mtimeMs;
  // What `agentctl run --record rec1 main.ts` leaves in the folder it ran in (after the build: the next run sees it).
  mkdirSync(join(project, 'rec1'));
  writeFileSync(join(project, 'rec1', 'tape.jsonl'), '');
  await new Promise((r) => setTimeout(r, 20));
  await buildProgramFile(join(project, 'main.ts'));
  expect(statSync(entry).mtimeMs).toBe(written);
});
