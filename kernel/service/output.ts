/**
 * OutputBuffers keeps the last bytes each process wrote to stdout and stderr
 * in the daemon (agents have no terminal there), for `GET /v1/processes/:pid/output`.
 */
import type { ExitReason } from '../process.ts';

const KEEP_BYTES = 64 * 1024;

/** ProcessOutput is what `GET /v1/processes/:pid/output` answers: the kept text, and once the process has exited its status and why. */
export interface ProcessOutput {
  readonly stdout: string;
  readonly stderr: string;
  readonly status?: number;
  readonly exitReason?: ExitReason;
}

interface Streams {
  stdout: string;
  stderr: string;
  /** Forgotten (its process reaped): later writes — its children's, which share its sinks — are dropped. */
  gone?: boolean;
}

export class OutputBuffers {
  private readonly byPid = new Map<number, Streams>();
  private readonly decoder = new TextDecoder();

  /**
   * sinks returns stdout and stderr sinks for a process about to be spawned,
   * kept under its pid once `bind` names it; text beyond KEEP_BYTES drops the
   * oldest. Its children share them: once the process is forgotten, what they
   * write is dropped (an orphan's writes made its entry again after the
   * reaper had forgotten it: 128 KiB per reaped root, for good).
   */
  sinks(): { stdout: (chunk: Uint8Array) => void; stderr: (chunk: Uint8Array) => void; bind: (pid: number) => void } {
    const own: Streams = { stdout: '', stderr: '' };
    const append = (stream: 'stdout' | 'stderr') => (chunk: Uint8Array) => {
      if (own.gone !== true) own[stream] = (own[stream] + this.decoder.decode(chunk)).slice(-KEEP_BYTES);
    };
    return { stdout: append('stdout'), stderr: append('stderr'), bind: (pid) => void this.byPid.set(pid, own) };
  }

  get(pid: number): { readonly stdout: string; readonly stderr: string } {
    return this.byPid.get(pid) ?? { stdout: '', stderr: '' };
  }

  forget(pid: number): void {
    const s = this.byPid.get(pid);
    if (s === undefined) return;
    s.gone = true;
    s.stdout = s.stderr = '';
    this.byPid.delete(pid);
  }

  /** size is how many processes' output is kept. */
  get size(): number {
    return this.byPid.size;
  }
}
