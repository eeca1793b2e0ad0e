/**
 * recordRun: what `agentctl run --record DIR` adds to a run. The root process
 * gets a RecordingTape; output that reaches the operator's stdout and stderr
 * (the root's and its children's: they share those fds) is kept too, so a
 * replay writes it back byte for byte; so are the policy's decisions
 * (DecisionKeeper: the children's, and what the process's own say of its
 * trust and tokens), so that a replay's candidate policy judges the
 * children's calls too and reads what the agent had when it asked; the end
 * is written when the run ends.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import type { DecisionInput } from '../../syscalls/records.ts';
import type { OutputSink } from '../fd-entries.ts';
import type { SpawnOptions } from '../kernel-options.ts';
import { policyInput } from '../recorder/policy-input.ts';
import type { ExitRecord } from '../process.ts';
import type { Program } from '../program.ts';
import { RecordingTape } from './boundary-tape.ts';
import { encode } from './codec.ts';
import { TAPE_FORMAT, TAPE_VERSION, type DecisionEvent, type EndEvent, type TapeHeader } from './events.ts';
import { TapeWriter } from './tape-file.ts';

/** programHash names what was built from a program (its bundle's SHA-256). */
export function programHash(program: Program): string {
  return program.contentHash ?? createHash('sha256').update(program.source).digest('hex');
}

/** endOf is a process's end as the tape keeps it. */
export function endOf(record: ExitRecord): EndEvent {
  const reason = record.reason;
  if (reason.kind === 'exit') return { k: 'x', status: record.status, reason: 'exit' };
  if (reason.kind === 'error') return { k: 'x', status: record.status, reason: `uncaught error: ${reason.error.split('\n')[0]}` };
  return { k: 'x', status: record.status, reason: `${reason.signal} (${reason.why})`, signal: reason.signal };
}

/**
 * DecisionKeeper says what the tape keeps of each record the kernel makes:
 * every decision the policy made on a child's call (a replay's candidate
 * judges it), and of the recorded process's own decisions only those that
 * say something new of its agent — the trust and LLM tokens it had when it
 * asked (a replay's candidate reads them), which seldom change — so that a
 * syscall of the process costs the recording a comparison. A decision the
 * kernel made before the policy (no question) is not the policy's.
 */
export class DecisionKeeper {
  private readonly root: number;
  /** Per agent, the trust and tokens the tape last said it had. */
  private readonly said = new Map<string, { trust: number; tokens: number }>();

  constructor(root: number) {
    this.root = root;
  }

  /** keep is the tape's event for `entry`, made at `time`, or undefined when the tape keeps nothing of it. */
  keep(entry: DecisionInput, time: number): DecisionEvent | undefined {
    if (entry.type !== 'syscall' || entry.asked === undefined) return undefined;
    const trust = entry.asked.trust ?? 1000;
    const tokens = entry.asked.tokens ?? 0;
    const said = this.said.get(entry.agentId);
    if (entry.pid === this.root && said !== undefined && said.trust === trust && said.tokens === tokens) return undefined;
    if (said === undefined) this.said.set(entry.agentId, { trust, tokens });
    else {
      said.trust = trust;
      said.tokens = tokens;
    }
    const { agentId, syscall, access, path, effect, rule } = entry;
    return { k: 'd', p: entry.pid, t: time, agent: agentId, syscall, access, ...(path !== undefined ? { path } : {}), req: policyInput(entry.asked), effect, rule };
  }
}

export interface RunRecording {
  /** The spawn options that record the root process. */
  readonly spawn: Pick<SpawnOptions, 'tape'>;
  /** sink wraps an output function so what it writes is kept. */
  sink(fd: 1 | 2, out: OutputSink): OutputSink;
  /** decided sees each record the kernel makes: a decision of the policy on a child's call is kept. */
  decided(entry: DecisionInput): void;
  /** close writes the end, closes the tape and seals it; a seal that could not be written is returned as an error (the tape is whole, unsealed). */
  close(record: ExitRecord): Error | undefined;
  /** abandon removes the tape of a run that never started. */
  abandon(): void;
}

export interface RecordingFacts {
  readonly path: string;
  readonly argv: readonly string[];
  readonly agentId?: string;
  readonly manifest: TapeHeader['manifest'];
  readonly policyVersion: string;
  readonly policySource: string;
  /** An Ed25519 private key to sign the tape's seal with (tape-seal.ts). */
  readonly sealKey?: KeyObject;
}

/** recordRun opens DIR for one run of `program` (EEXIST if it holds a tape already). */
export function recordRun(dir: string, program: Program, facts: RecordingFacts): RunRecording {
  const writer = new TapeWriter(dir, facts.policySource, undefined, facts.sealKey);
  let tape: RecordingTape | undefined;
  let keeper: DecisionKeeper | undefined;
  return {
    spawn: {
      tape: (proc) => {
        const header: TapeHeader = {
          format: TAPE_FORMAT,
          version: TAPE_VERSION,
          program: { path: resolve(facts.path), hash: programHash(program) },
          argv: [...facts.argv],
          env: { ...proc.env },
          ...(facts.agentId !== undefined ? { agentId: facts.agentId } : {}),
          manifest: facts.manifest,
          policyVersion: facts.policyVersion,
          started: Date.now(),
          limits: Object.fromEntries(Object.entries(proc.limits).filter(([, v]) => typeof v === 'number')),
          pid: proc.pid,
        };
        writer.start(header);
        keeper = new DecisionKeeper(proc.pid);
        tape = new RecordingTape(writer);
        return tape;
      },
    },
    sink: (fd, out) => (chunk, cancel) => {
      if (tape !== undefined) tape.output(fd, chunk);
      else writer.push({ k: 'o', f: fd, d: encode(chunk) });
      return out(chunk, cancel);
    },
    decided: (entry) => {
      const event = keeper?.keep(entry, Date.now());
      if (event !== undefined) tape!.decision(event);
    },
    close: (record) => writer.close(endOf(record), tape?.interrupted()),
    abandon: () => writer.discard(),
  };
}
