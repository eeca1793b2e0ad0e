/**
 * `agentctl --version` (and `-V`) prints the package's version, from its
 * package.json (found by the package's name, so from dist/bin/ once installed
 * too), and exits 0; the top-level --help ends with examples, as every
 * command's does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentctl, REPO } from './helpers.ts';

const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };

describe.concurrent('agentctl --version and --help', { timeout: 60_000 }, () => {
  it.each([['--version'], ['-V']])('agentctl %s prints the version and exits 0', async (flag) => {
    expect(await agentctl(undefined, flag)).toMatchObject({ status: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('agentctl --help lists --version and ends with examples', async () => {
    const r = await agentctl(undefined, '--help');
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(/-V, --version\s+print the version of agentctl/);
    expect(r.stdout).toMatch(/\nExamples:\n {2}\$ agentctl run examples\/hello\.ts -- Ada\n/);
  });
});
