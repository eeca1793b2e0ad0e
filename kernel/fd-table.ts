/**
 * FdTable is one process's open files. fds 0, 1 and 2 are the operator's
 * stdin (end of file for now), stdout and stderr; the rest come from open().
 * The lowest free number is reused, as in POSIX. EMFILE past the limit, EBADF
 * for an fd that is not open or not open in the needed direction.
 */
import { KernelError } from '../syscalls/errno.ts';
import type { Files } from '../syscalls/context.ts';
import type { BackendFile, OpenMode } from '../vfs/backend.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';

export type OutputSink = (chunk: Uint8Array) => void;

type Entry =
  | { readonly kind: 'stdin' }
  | { readonly kind: 'sink'; readonly sink: OutputSink }
  | {
      readonly kind: 'file';
      readonly file: BackendFile;
      readonly readable: boolean;
      readonly writable: boolean;
      readonly append: boolean;
      position: number;
    };

const EMPTY = new Uint8Array(0);

export class FdTable implements Files {
  private readonly entries = new Map<number, Entry>();
  private readonly vfs: AgentVfs;
  private readonly limit: number;

  constructor(vfs: AgentVfs, stdout: OutputSink, stderr: OutputSink, limit: number) {
    this.vfs = vfs;
    this.limit = limit;
    this.entries.set(0, { kind: 'stdin' });
    this.entries.set(1, { kind: 'sink', sink: stdout });
    this.entries.set(2, { kind: 'sink', sink: stderr });
  }

  get size(): number {
    return this.entries.size;
  }

  open(path: string, mode: OpenMode): number {
    if (this.entries.size >= this.limit) throw new KernelError('EMFILE', `too many open files (limit ${this.limit})`);
    let fd = 0;
    while (this.entries.has(fd)) fd++;
    const { file } = this.vfs.open(path, mode);
    const readable = mode === 'r' || mode.endsWith('+');
    const writable = mode !== 'r';
    this.entries.set(fd, { kind: 'file', file, readable, writable, append: mode.startsWith('a'), position: 0 });
    return fd;
  }

  read(fd: number, length: number): Uint8Array {
    const entry = this.entries.get(fd);
    if (entry === undefined) throw new KernelError('EBADF', `fd ${fd} is not open`);
    if (entry.kind === 'stdin') return EMPTY;
    if (entry.kind === 'sink' || !entry.readable) throw new KernelError('EBADF', `fd ${fd} is not open for reading`);
    const out = entry.file.read(length, entry.position);
    entry.position += out.byteLength;
    return out;
  }

  write(fd: number, data: Uint8Array): number {
    const entry = this.entries.get(fd);
    if (entry === undefined) throw new KernelError('EBADF', `fd ${fd} is not open`);
    if (entry.kind === 'sink') {
      entry.sink(data);
      return data.byteLength;
    }
    if (entry.kind === 'stdin' || !entry.writable) throw new KernelError('EBADF', `fd ${fd} is not open for writing`);
    const at = entry.append ? entry.file.size() : entry.position;
    const n = entry.file.write(data, at);
    entry.position = at + n;
    return n;
  }

  close(fd: number): void {
    const entry = this.entries.get(fd);
    if (entry === undefined) throw new KernelError('EBADF', `fd ${fd} is not open`);
    this.entries.delete(fd);
    if (entry.kind === 'file') entry.file.close();
  }

  /** closeAll releases every open file; called when the process exits. */
  closeAll(): void {
    for (const fd of this.entries.keys()) this.close(fd);
  }
}
