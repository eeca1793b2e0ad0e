/**
 * withTempBuildCache gives a test file a folder of its own and points the build cache (AGENT_KERNEL_CACHE) into it
 * for the file's tests, putting the variable back and removing the folder after. `folder()` is that folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export function withTempBuildCache(prefix: string): { folder: () => string } {
  let base: string | undefined;
  let saved: string | undefined;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), prefix));
    saved = process.env.AGENT_KERNEL_CACHE;
    process.env.AGENT_KERNEL_CACHE = join(base, 'cache');
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.AGENT_KERNEL_CACHE;
    else process.env.AGENT_KERNEL_CACHE = saved;
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
  });
  return {
    folder: () => {
      if (base === undefined) throw new Error('withTempBuildCache: no folder before the tests start');
      return base;
    },
  };
}
