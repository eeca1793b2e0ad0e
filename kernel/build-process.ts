/**
 * The build process: one per build of a program from the host's disk,
 * started by buildProgramFile (program-build.ts) under its bounds (memory,
 * time, output). It bundles the program named by its argument, a JSON
 * { entry, root, path }, and writes one JSON answer to stdout, the built
 * program (BuildAnswer) or why it was refused, then ends. What a hostile
 * package can make esbuild do (a TypeScript enum folded to hundreds of
 * megabytes, a file that never ends) stays in this process and esbuild's,
 * which the kernel ends.
 */
import { KernelError } from '../abi/errno.ts';
import { bundleProgram, type Bundled } from './program-bundle.ts';

/** BuildAnswer is what the build process writes: the program, or the errno and message of its refusal. */
export type BuildAnswer = ({ readonly ok: true } & Bundled) | { readonly ok: false; readonly errno: string; readonly message: string };

function answer(message: BuildAnswer): void {
  process.stdout.write(JSON.stringify(message), () => process.exit(0));
}

// The kernel holds this pipe open until it has the answer: it closing means the kernel is gone (or gave up), and so
// is this build. This process leads its process group (the kernel started it so): the group's end takes esbuild's
// process too, which would otherwise finish the build under way first.
process.stdin.on('end', () => {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } finally {
    process.exit(3);
  }
});
process.stdin.resume();

const { entry, root, path } = JSON.parse(process.argv[2] ?? '{}') as { entry: string; root: string; path: string };
bundleProgram(entry, root, path).then(
  (bundled) => answer({ ok: true, ...bundled }),
  (err: unknown) => answer(err instanceof KernelError ? { ok: false, errno: err.errno, message: err.message } : { ok: false, errno: 'ENOEXEC', message: `${path}: cannot build: ${err instanceof Error ? err.message : String(err)}` }),
);
