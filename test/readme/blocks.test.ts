/**
 * Every shell block of README.md, as written: each is either run here
 * (test/readme/run-block.ts: one bash session from the repository root,
 * agentd's state in a scratch dir, exit statuses and the `# …` comments that
 * say what a command prints checked) or listed as skipped with the reason.
 * A new block, a changed command or a changed comment fails until someone
 * decides what the test does with it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DECISIONS } from './decisions.ts';
import { blockName, decisionsFor, REPO, runBlock } from './run-block.ts';
import { shellBlocks } from './shell-blocks.ts';
import { canIsolateNetwork } from './shell-session.ts';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');

const blocks = shellBlocks(README);
const { paired, problems } = decisionsFor(blocks, DECISIONS);

describe('README.md shell blocks', () => {
  it('every block is either run or listed as skipped with a reason', () => {
    expect(blocks.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    for (const [block, decision] of paired) {
      if ('skip' in decision) expect(decision.skip.length, `${blockName(block)}: a reason to skip it`).toBeGreaterThan(20);
    }
  });

  // Each block has a shell, a network namespace and an agentd state dir of its own where the machine allows
  // it; without a namespace the blocks' agentd all listen on 7070, so they run one after another.
  const test = canIsolateNetwork() ? it.concurrent : it;
  for (const [block, decision] of paired) {
    if ('skip' in decision) it.skip(`${blockName(block)}: ${decision.skip}`, () => {});
    else test(`${blockName(block)} runs as written`, () => runBlock(block, decision), 120_000);
  }
});
