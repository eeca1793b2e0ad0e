/**
 * FdTable is one process's open files. fds 0, 1 and 2 start as the
 * operator's stdin (end of file), stdout and stderr, or as pipe ends a parent
 * passed at spawn; the rest come from open() and pipe(). The lowest free
 * number is reused, as in POSIX. EMFILE past the limit; EBADF for an fd that
 * is not open, or not open in the needed direction; EFBIG past the output
 * limit on fds written to the operator.
 */
import { KernelError } from '../syscalls/errno.ts';
import type { Files } from '../syscalls/context.ts';
import type { BackendFile, OpenMode } from '../vfs/backend.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';
import { Pipe } from './pipe.ts';

export type OutputSink = (chunk: Uint8Array) => void;

/** Entry is what an fd refers to; pipe ends and sinks may be shared with other processes. */
export type Entry =
  | { readonly kind: 'stdin' }
  | { readonly kind: 'sink'; readonly sink: OutputSink }
  | { readonly kind: 'pipe'; readonly pipe: Pipe; readonly end: 'r' | 'w' }
  | {
      readonly kind: 'file';
      readonly file: BackendFile;
      readonly readable: boolean;
      readonly writable: boolean;
      readonly append: boolean;
      position: number;
    };

const EMPTY = new Uint8Array(0);

export interface FdTableOptions {
  stdin?: Entry;
  stdout: Entry;
  stderr: Entry;
  /** Open files, counting 0–2. */
  limit: number;
  /** Bytes the process may write to operator sinks. */
  outputLimit?: number;
}

export class FdTable implements Files {
  private readonly entries = new Map<number, Entry>();
  private readonly vfs: AgentVfs;
  private readonly limit: number;
  private readonly outputLimit: number;
  private output = 0;

  constructor(vfs: AgentVfs, options: FdTableOptions) {
    this.vfs = vfs;
    this.limit = options.limit;
    this.outputLimit = options.outputLimit ?? Number.POSITIVE_INFINITY;
    this.install(0, options.stdin ?? { kind: 'stdin' });
    this.install(1, options.stdout);
    this.install(2, options.stderr);
  }

  /** sink wraps an output function as an fd entry. */
  static sink(sink: OutputSink): Entry {
    return { kind: 'sink', sink };
  }

  get size(): number {
    return this.entries.size;
  }

  private install(fd: number, entry: Entry): void {
    if (entry.kind === 'pipe') entry.pipe.open(entry.end);
    this.entries.set(fd, entry);
  }

  private allocate(entry: Entry): number {
    if (this.entries.size >= this.limit) throw new KernelError('EMFILE', `too many open files (limit ${this.limit})`);
    let fd = 0;
    while (this.entries.has(fd)) fd++;
    this.install(fd, entry);
    return fd;
  }

  private get(fd: number): Entry {
    const entry = this.entries.get(fd);
    if (entry === undefined) throw new KernelError('EBADF', `fd ${fd} is not open`);
    return entry;
  }

  /** share returns what `fd` refers to, for passing to a child (pipe ends and sinks only). */
  share(fd: number): Entry {
    const entry = this.get(fd);
    if (entry.kind === 'file') throw new KernelError('EINVAL', `fd ${fd} is a file; only pipes and stdio can be passed to a child`);
    return entry;
  }

  open(path: string, mode: OpenMode): number {
    if (this.entries.size >= this.limit) throw new KernelError('EMFILE', `too many open files (limit ${this.limit})`);
    const { file } = this.vfs.open(path, mode);
    const readable = mode === 'r' || mode.endsWith('+');
    return this.allocate({ kind: 'file', file, readable, writable: mode !== 'r', append: mode.startsWith('a'), position: 0 });
  }

  /** pipe creates a pipe and returns [read end, write end]. */
  pipe(): [number, number] {
    if (this.entries.size + 2 > this.limit) throw new KernelError('EMFILE', `too many open files (limit ${this.limit})`);
    const pipe = new Pipe();
    return [this.allocate({ kind: 'pipe', pipe, end: 'r' }), this.allocate({ kind: 'pipe', pipe, end: 'w' })];
  }

  read(fd: number, length: number): Uint8Array | Promise<Uint8Array> {
    const entry = this.get(fd);
    if (entry.kind === 'stdin') return EMPTY;
    if (entry.kind === 'pipe' && entry.end === 'r') return entry.pipe.read(length, () => this.entries.get(fd) === entry);
    if (entry.kind !== 'file' || !entry.readable) throw new KernelError('EBADF', `fd ${fd} is not open for reading`);
    const out = entry.file.read(length, entry.position);
    entry.position += out.byteLength;
    return out;
  }

  write(fd: number, data: Uint8Array): number | Promise<number> {
    const entry = this.get(fd);
    if (entry.kind === 'sink') {
      if (this.output + data.byteLength > this.outputLimit) throw new KernelError('EFBIG', `output limit of ${this.outputLimit} bytes reached`);
      this.output += data.byteLength;
      entry.sink(data);
      return data.byteLength;
    }
    if (entry.kind === 'pipe' && entry.end === 'w') return entry.pipe.write(data, () => this.entries.get(fd) === entry);
    if (entry.kind !== 'file' || !entry.writable) throw new KernelError('EBADF', `fd ${fd} is not open for writing`);
    const at = entry.append ? entry.file.size() : entry.position;
    const n = entry.file.write(data, at);
    entry.position = at + n;
    return n;
  }

  close(fd: number): void {
    const entry = this.get(fd);
    this.entries.delete(fd);
    if (entry.kind === 'file') entry.file.close();
    else if (entry.kind === 'pipe') entry.pipe.close(entry.end);
  }

  /** closeAll releases every open file; called when the process exits. */
  closeAll(): void {
    for (const fd of this.entries.keys()) this.close(fd);
  }
}
