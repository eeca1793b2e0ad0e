/**
 * Found by a review (fixed): `agentctl policy analyze` now exits 3 when the solver left a question unanswered (bin/commands/
 * policy-analysis.ts; README says so), but its --help still lists only 0, 1 and 2 (bin/agentctl.ts): a CI author
 * reading the help treats 3 as an unknown failure, or, checking `!= 1`, lets an unanalysed policy pass again. diff and
 * prove list their 3.
 */
import { expect, it } from 'vitest';
import { agentctl } from '../research/agentctl.ts';

it('policy analyze --help names exit status 3 (unanswered)', async () => {
  const r = await agentctl(['policy', 'analyze', '--help'], { cwd: process.cwd() });
  const line = r.stdout.split('\n').find((l) => l.startsWith('Exit status:'));
  expect(line).toBeDefined();
  expect(line).toMatch(/\b3\b/);
}, 30_000);
