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
import type { Process } from './process.ts';
import { buildProgram, MAX_PROGRAM_BYTES, type Program } from './program.ts';

/** ChildHost is what a SYS_SPAWN needs from the kernel. */
export interface ChildHost {
  /** admit checks the process caps for one more process in `parent`'s tree. EAGAIN. */
  admit(parent: Process): void;
  registered(name: string): Program | undefined;
  vfs(agentId: string): AgentVfs;
  spawnAsync(program: Program, options: SpawnOptions): Promise<Process>;
}

/** spawnChild runs a SYS_SPAWN for `parent` and returns the child's pid. EAGAIN, ENOENT, EFBIG, ENOEXEC, EPERM, EBADF, EINTR. */
export async function spawnChild(host: ChildHost, parent: Process, identity: Identity, request: SpawnRequest): Promise<number> {
  host.admit(parent);
  const program = host.registered(request.program) ?? (await programFromVfs(host.vfs(parent.agentId), request.program, (ns) => parent.lineage.charge(ns)));
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

/** programFromVfs reads `path` from `vfs` and builds it; `charge` gets the kernel time spent. ENOENT, EFBIG, ENOEXEC. */
export async function programFromVfs(vfs: AgentVfs, path: string, charge: (ns: number) => void): Promise<Program> {
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
    text = new TextDecoder().decode(bytes);
  } finally {
    await file.close();
  }
  return buildProgram(path, text);
}
