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

/** guarded runs `make` (compiling a pattern, say); what it throws becomes a PolicyFieldError at `path`: `is not valid: …`. */
export function guarded<T>(path: readonly (string | number)[], make: () => T): T {
  try {
    return make();
  } catch (err) {
    throw new PolicyFieldError(path, `is not valid: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}
