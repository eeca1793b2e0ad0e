/**
 * programFromVfs reads a program an agent spawns from its VFS and builds it.
 * The path was resolved and authorized by the dispatcher (as SYS_OPEN's read
 * would be); the file is read in chunks and refused past MAX_PROGRAM_BYTES
 * before it is all in memory, and compiled off the event loop.
 */
import { KernelError } from '../syscalls/errno.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';
import { buildProgram, MAX_PROGRAM_BYTES, type Program } from './program.ts';

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
