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
}

export class OutputBuffers {
  private readonly byPid = new Map<number, Streams>();
  private readonly decoder = new TextDecoder();

  /** sinks returns stdout and stderr sinks for `pid`; text beyond KEEP_BYTES drops the oldest. */
  sinks(pid: () => number): { stdout: (chunk: Uint8Array) => void; stderr: (chunk: Uint8Array) => void } {
    const append = (stream: keyof Streams) => (chunk: Uint8Array) => {
      const id = pid();
      let s = this.byPid.get(id);
      if (s === undefined) this.byPid.set(id, (s = { stdout: '', stderr: '' }));
      s[stream] = (s[stream] + this.decoder.decode(chunk)).slice(-KEEP_BYTES);
    };
    return { stdout: append('stdout'), stderr: append('stderr') };
  }

  get(pid: number): Streams {
    return this.byPid.get(pid) ?? { stdout: '', stderr: '' };
  }

  forget(pid: number): void {
    this.byPid.delete(pid);
  }
}
