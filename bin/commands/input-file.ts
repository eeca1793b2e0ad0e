/**
 * Files named on agentctl's command line (programs, policies, manifests,
 * logs): a file that cannot be read is one line naming it, in the manner of
 * `cat: FILE: No such file or directory` — never Node's raw `ENOENT: …,
 * open 'FILE'` text nor a stack.
 */
import { ERRNO_TEXT, isErrno, KernelError } from '../../abi/errno.ts';
import { readRegularText, whyUnreadable } from '../../kernel/regular-file.ts';
import { ArgumentError } from './whole-number.ts';

/** InputFileError is a named file that cannot be read; its message is `FILE: why`. A usage error: exit status 2. */
export class InputFileError extends ArgumentError {
  readonly file: string;
  constructor(file: string, why: string) {
    super(`${file}: ${why}`);
    this.name = 'InputFileError';
    this.file = file;
  }
}

/** unreadable says why reading `file` failed with `err`: `no such file or directory`, `permission denied (EACCES)`, … */
export function unreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return ERRNO_TEXT.ENOENT;
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (typeof code === 'string') return isErrno(code) ? `${ERRNO_TEXT[code]} (${code})` : code;
  return err instanceof Error ? err.message : String(err);
}

/** The largest input file read (a manifest, requests to test a policy with). */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** readInput reads the UTF-8 text of `file` (a regular file, at most MAX_INPUT_BYTES); InputFileError naming it when it cannot. */
export function readInput(file: string): string {
  try {
    return readRegularText(file, MAX_INPUT_BYTES, 'input file');
  } catch (err) {
    throw new InputFileError(file, err instanceof KernelError ? whyUnreadable(err, file) : unreadable(err));
  }
}
