/** PolicyFieldError is a semantic problem at a path in the document (load.ts turns the path into file, line and column). */
export class PolicyFieldError extends Error {
  readonly path: readonly (string | number)[];
  readonly problem: string;
  constructor(path: readonly (string | number)[], problem: string) {
    super(problem);
    this.path = path;
    this.problem = problem;
  }
}
