/**
 * The README block runner itself: how blocks are cut into commands and
 * comments, that a block without a decision is reported, and that it fails
 * on deliberately broken copies of README blocks (a missing file, a wrong
 * `# prints:`, an unknown comment, a wrong exit status).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DECISIONS } from './decisions.ts';
import { decisionsFor, REPO, runBlock, type RunDecision } from './run-block.ts';
import { shellBlocks, splitComment, type ShellBlock } from './shell-blocks.ts';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const fence = (text: string, tag = 'sh') => `\`\`\`${tag}\n${text}\n\`\`\`\n`;

/** readmeBlock is the README's block that `command` names, with its decision. */
function readmeBlock(command: string): { block: ShellBlock; decision: RunDecision } {
  const block = shellBlocks(README).find((b) => b.commands.some((c) => c.command === command));
  const decision = DECISIONS.find((d) => d.block === command);
  if (block === undefined || decision === undefined || 'skip' in decision) throw new Error(`no run block ${command}`);
  return { block, decision };
}

/** broken is a copy of `block` with `from` replaced by `to` (which must occur). */
function broken(block: ShellBlock, from: string, to: string): ShellBlock {
  expect(block.source).toContain(from);
  return shellBlocks(fence(block.source.replace(from, to)))[0]!;
}

describe('shellBlocks', () => {
  it('cuts shell blocks into commands with their comments, joins continued lines, keeps comment-only lines as remarks, and ignores other blocks', () => {
    const markdown = [
      '## One',
      fence('echo "a # b" \'#c\' x#y   # prints: a # b #c x#y\nexport A=$(echo 1)\ncat a \\\n  b   # two lines\n# sample output'),
      '## Two',
      fence('key: value   # yaml', 'yaml'),
      fence('npm test', 'bash'),
    ].join('\n');
    const blocks = shellBlocks(markdown);
    expect(blocks.map((b) => [b.line, b.heading])).toEqual([
      [2, 'One'],
      [15, 'Two'],
    ]);
    expect(blocks[0]!.commands).toEqual([
      { line: 3, command: 'echo "a # b" \'#c\' x#y', comment: 'prints: a # b #c x#y' },
      { line: 4, command: 'export A=$(echo 1)', comment: undefined },
      { line: 5, command: 'cat a \\\n  b', comment: 'two lines' },
    ]);
    expect(blocks[0]!.remarks).toEqual(['sample output']);
    expect(splitComment("x --request '{\"a\":\"#\"}'  #  c ")).toEqual({ code: "x --request '{\"a\":\"#\"}'", comment: 'c' });
  });
});

describe('decisionsFor', () => {
  it('reports a block nobody decided on and a decision whose block is gone', () => {
    const blocks = shellBlocks(fence('npx agentctl ps') + fence('npx agentctl new-thing'));
    const { paired, problems } = decisionsFor(blocks, [
      { block: 'npx agentctl ps', skip: 'a reason long enough to read' },
      { block: 'npx agentctl gone', skip: 'the block was removed from the README' },
    ]);
    expect(paired.size).toBe(1);
    expect(problems).toEqual([
      'README.md:4 (npx agentctl new-thing) has no decision: run it or list it as skipped with a reason',
      'no README block has the command "npx agentctl gone" (a stale decision)',
    ]);
  });
});

// A broken block fails at its first bad line; the time is agentd's start and a few agentctl runs.
describe('runBlock fails on a broken block', { timeout: 60_000 }, () => {
  it('a README block naming a file that is not there', async () => {
    const { block, decision } = readmeBlock('npx agentctl policy validate examples/policies/notes.yaml');
    await expect(runBlock(broken(block, 'validate examples/policies/notes.yaml', 'validate examples/policies/note.yaml'), decision)).rejects.toThrow(
      /README\.md:\d+: npx agentctl policy validate examples\/policies\/note\.yaml\n {2}status: [1-9][\s\S]*exit status [1-9]\d*, expected 0/,
    );
  });

  it('a README block whose line ends with another status than the decided one', async () => {
    const { block, decision } = readmeBlock('npx agentctl run examples/hello.ts -- Ada');
    const copy = broken(block, 'run examples/governed.ts', 'run examples/hello.ts');
    const governed = copy.commands.find((c) => c.command.includes('--log decisions.jsonl'))!;
    const lines = { [governed.command]: { ...decision.lines![governed.command.replace('hello.ts', 'governed.ts')]! } };
    expect(lines[governed.command]!.status?.is).toBe(136);
    await expect(runBlock({ ...copy, commands: [governed] }, { block: decision.block, lines })).rejects.toThrow(/exit status 0, expected 136/);
  });

  it("the tour when a line does not print what its `# prints:` says; agentd goes with the block's shell", async () => {
    const { block, decision } = readmeBlock('npx agentctl spawn examples/tour.ts --agent notes -- "buy milk" "call Alice"');
    const copy = broken(block, '# prints: 1 (agent notes)', '# prints: 2 (agent notes)');
    await expect(runBlock(copy, decision)).rejects.toThrow(/it prints "1 \(agent notes\)\\n", the README says "2 \(agent notes\)"/);
  });

  it('a comment the decision does not know, before anything runs', async () => {
    const [block] = shellBlocks(fence('true   # makes a file'));
    await expect(runBlock(block!, { block: 'true' })).rejects.toThrow(/its comment "# makes a file" is not known to the test/);
  });
});
