import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // isolated-vm asks for --no-node-snapshot on Node 20+.
    execArgv: ['--no-node-snapshot', '--disable-warning=ExperimentalWarning'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
