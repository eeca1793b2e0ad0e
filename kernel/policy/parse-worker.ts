/** Worker-thread entry for policy parses (parse-off-loop.ts): each message is a ParseJob, answered with a ParseAnswer. */
import { answerJobs } from '../worker-answer.ts';
import { parsePolicy, PolicyError } from './load.ts';
import type { ParseAnswer, ParseJob } from './parse-off-loop.ts';

answerJobs(({ source, file }: ParseJob): ParseAnswer => {
  try {
    const { document, version } = parsePolicy(source, file);
    return { document, version };
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    return { refused: { line: err.line, column: err.column, field: err.field, problem: err.problem } };
  }
});
