import { describe, expect, it } from 'vitest';
import { runAgent } from './helpers.ts';

describe('smoke', () => {
  it('runs a TypeScript agent and collects its output', async () => {
    const { exit, stdout } = await runAgent('const n: number = sys.getpid(); console.log("pid", n);');
    expect(exit.status).toBe(0);
    expect(stdout).toBe(`pid ${exit.pid}\n`);
  });
});
