/**
 * What the binaries do when the reader of their stdout or stderr goes away
 * (`agentctl logs | head -1`, a closed terminal, a log shipper that died).
 * Node ignores SIGPIPE, so a write into a closed pipe comes back as an
 * EPIPE 'error' event on process.stdout or process.stderr, and an 'error'
 * event nobody listens to ends the process with a stack trace. Each binary
 * installs one of the two policies below once, before it writes anything.
 */

/** Codes a write gets when the other end of the pipe or socket has closed. */
const READER_GONE: ReadonlySet<string> = new Set(['EPIPE', 'ECONNRESET']);

const codeOf = (err: Error): string | undefined => (err as NodeJS.ErrnoException).code;

/**
 * How a CLI ends once its stdout is closed. `exit`: at once, with the
 * status the command has already set, else 0 — what `head` expects of the
 * command before it. `sigpipe`: killed by SIGPIPE, as git or ls are (status
 * 141 in a shell, which says nothing about it); for a process that runs
 * isolates, where exit() can hang for ever: isolated-vm's exit handler
 * joins its worker threads, and one may be waiting on the main thread for
 * an agent's call to the host.
 */
export type StdoutClosedEnd = 'exit' | 'sigpipe';

/**
 * endWhenStdoutCloses is the CLI policy (agentctl): a closed stdout is a
 * normal end, quiet, the way `end` says. Any other write error on stdout is
 * named on stderr and ends the command with status 1 (or SIGPIPE). A closed
 * stderr leaves nowhere to report anything: later writes to it are dropped
 * and the command goes on, so its exit status still tells whether it worked.
 */
export function endWhenStdoutCloses(program: string, end: StdoutClosedEnd): void {
  process.stdout.on('error', (err: Error) => {
    const code = codeOf(err);
    const readerGone = code !== undefined && READER_GONE.has(code);
    if (!readerGone) process.stderr.write(`${program}: cannot write to stdout: ${code ?? err.message}\n`);
    if (end === 'sigpipe') dieOfSigpipe();
    process.exit(readerGone ? undefined : 1);
  });
  process.stderr.on('error', () => {});
}

const ignoreSigpipe = () => {};

/** dieOfSigpipe ends the process by SIGPIPE's default action; nothing of Node's exit path runs. */
function dieOfSigpipe(): never {
  // Node starts with SIGPIPE ignored; once its last listener is removed the signal is back to its default action.
  process.on('SIGPIPE', ignoreSigpipe).off('SIGPIPE', ignoreSigpipe);
  process.kill(process.pid, 'SIGPIPE');
  // Delivered to this process already, or to another of its threads in a moment: either ends it.
  process.exit(141);
}

/**
 * outliveConsole is the daemon policy (agentd): the console is a courtesy,
 * not a dependency. A write error on stdout or stderr — EPIPE, EIO after
 * the terminal went away — is dropped with every later write to that
 * stream (a stream destroyed by an error swallows further writes), and the
 * daemon keeps serving and, when told to stop, still removes its URL file,
 * leaves the cluster and releases its state dir.
 */
export function outliveConsole(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}
