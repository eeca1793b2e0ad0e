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

const { entry, root, path } = JSON.parse(process.argv[2] ?? '{}') as { entry: string; root: string; path: string };
bundleProgram(entry, root, path).then(
  (bundled) => answer({ ok: true, ...bundled }),
  (err: unknown) => answer(err instanceof KernelError ? { ok: false, errno: err.errno, message: err.message } : { ok: false, errno: 'ENOEXEC', message: `${path}: cannot build: ${err instanceof Error ? err.message : String(err)}` }),
);
