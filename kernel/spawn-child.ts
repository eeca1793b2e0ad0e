/**
 * What a SYS_SPAWN does in the kernel: find the program (one the operator
 * registered, or a file of the agent's VFS — its path already resolved and
 * authorized by the dispatcher, as SYS_OPEN's read would be — read in chunks,
 * refused past MAX_PROGRAM_BYTES before it is all in memory, and compiled
 * off the event loop), pass the caller's pipes or stdio, and start the child
 * in the caller's tree with capabilities and labels no wider than its own.
 */
import type { SpawnRequest } from '../syscalls/context.ts';
import { KernelError } from '../abi/errno.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';
import type { Identity } from './capabilities.ts';
import type { SpawnOptions } from './kernel-options.ts';
import type { Lineage } from './lineage.ts';
import type { Process } from './process.ts';
import { buildProgram, MAX_PROGRAM_BYTES, type Program } from './program.ts';
import { planAhead } from './program-layers.ts';

/** ChildHost is what a SYS_SPAWN needs from the kernel. */
export interface ChildHost {
  /** admit checks the process caps for one more process in `parent`'s tree. EAGAIN. */
  admit(parent: Process): void;
  registered(name: string): Program | undefined;
  vfs(agentId: string): AgentVfs;
  spawnAsync(program: Program, options: SpawnOptions): Promise<Process>;
}

/** A tree's program from its VFS being read and compiled: one at a time (oneAtATime). */
const compiling = new WeakMap<Lineage, Promise<unknown>>();
const nothing = (): void => {};

/** oneAtATime runs `step` once the tree's compile before it has ended. */
function oneAtATime<T>(lineage: Lineage, step: () => Promise<T>): Promise<T> {
  const turn = (compiling.get(lineage) ?? Promise.resolve()).then(nothing, nothing).then(step);
  compiling.set(lineage, turn);
  return turn;
}

/**
 * spawnChild runs a SYS_SPAWN for `parent` and returns the child's pid.
 * EAGAIN, ENOENT, EFBIG, ENOEXEC, EPERM, EBADF, EINTR. A program from the
 * VFS is read and compiled one at a time per tree, counted against the
 * tree's children cap meanwhile, and its compile's time is the tree's CPU
 * (found by an attacker pass: four concurrent spawns of TypeScript that
 * esbuild compiles in quadratic time, all admitted at once, ran 23 s of both
 * cores and were charged 6 ms).
 */
export async function spawnChild(host: ChildHost, parent: Process, identity: Identity, request: SpawnRequest): Promise<number> {
  host.admit(parent);
  const lineage = parent.lineage;
  lineage.pendingSpawns++;
  let counted = true;
  const uncount = () => {
    if (counted) lineage.pendingSpawns--;
    counted = false;
  };
  try {
    const program =
      host.registered(request.program) ??
      (await oneAtATime(lineage, () => {
        if (parent.exit !== undefined) throw new KernelError('EINTR', 'the process ended while its child was being prepared');
        // A compile the parent no longer waits for gives up its turn, or stops (a review: killed agents' 10 s compiles held every slot).
        return programFromVfs(host.vfs(parent.agentId), request.program, (ns, onLoop) => lineage.charge(ns, onLoop), parent.endedSignal);
      }));
    // The names of its layers are read a slice a turn, paid by the tree (the spawn then finds them read).
    await planAhead(program, (ns) => lineage.charge(ns));
    // The spawn counts itself from here (Spawner.prepare admits it again).
    uncount();
    return await startChild(host, parent, identity, request, program);
  } finally {
    uncount();
  }
}

async function startChild(host: ChildHost, parent: Process, identity: Identity, request: SpawnRequest, program: Program): Promise<number> {
  if (parent.exit !== undefined) throw new KernelError('EINTR', 'the process ended while its child was being prepared');
  const files = parent.fds!;
  const fds = {
    ...(request.stdin !== undefined ? { stdin: files.share(request.stdin) } : {}),
    stdout: files.share(request.stdout ?? 1),
    stderr: files.share(request.stderr ?? 2),
  };
  // Labels feed policy matching: a child inherits its parent's and may not claim others.
  for (const [key, value] of Object.entries(request.labels ?? {})) {
    if (identity.labels[key] !== value) throw new KernelError('EPERM', `label ${key}=${value} is not one of the parent's labels`);
  }
  const child = await host.spawnAsync(program, { ppid: parent.pid, argv: request.argv, manifest: { labels: identity.labels, capabilities: request.capabilities ?? [] }, fds, limits: parent.limits });
  return child.pid;
}

const CHUNK = 1 << 20;

/** programFromVfs reads `path` from `vfs` and builds it; `charge` gets the kernel time spent (the compile's, off the event loop: onLoop false). ENOENT, EFBIG, ENOEXEC. */
export async function programFromVfs(vfs: AgentVfs, path: string, charge: (ns: number, onLoop?: boolean) => void, signal?: AbortSignal): Promise<Program> {
  const { file } = await vfs.open(path, 'r');
  let text: string;
  try {
    const size = await file.size();
    if (size > MAX_PROGRAM_BYTES) throw new KernelError('EFBIG', `${path}: the program is ${size} bytes, more than ${MAX_PROGRAM_BYTES}`);
    const bytes = new Uint8Array(size);
    for (let at = 0; at < size; ) {
      const started = performance.now();
      const chunk = await file.read(Math.min(CHUNK, size - at), at);
      charge((performance.now() - started) * 1e6);
      if (chunk.byteLength === 0) break;
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
    const decoding = performance.now();
    text = new TextDecoder().decode(bytes);
    charge((performance.now() - decoding) * 1e6);
  } finally {
    await file.close();
  }
  // esbuild compiles in its own process: the time of its compiles of this program (not waits behind others') counts as
  // the tree's CPU, not against its share of the event loop.
  return buildProgram(path, text, (ms) => charge(ms * 1e6, false), signal);
}
