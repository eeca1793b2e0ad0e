/**
 * What a run's tape holds (DIR/tape.jsonl, one JSON value a line): a header,
 * then everything that crossed the root process's boundary, in the order its
 * isolate saw it, then how the process ended. The policy in force is kept
 * beside it (DIR/policy.yaml).
 *
 *   c  a syscall: its number n (1, 2, … in issue order), blocking (m 'b') or
 *      asynchronous (m 'a', with its flags f), the syscall number s, its
 *      arguments a and the reply ring 3 got r (a wire reply: value, fault,
 *      queued, busy), at kernel time t (ms, when the reply came), having taken d ms
 *   r  the reply of a blocking call that waited (its c line has no r): n, r, t, d
 *   b  a batch of completions entering the isolate: [{ id, r, d }] (d: ms since the call was issued)
 *   g  signals delivered to an idle isolate
 *   t  a read of the clock (ms)
 *   o  output a child process wrote to the operator (fd 1 or 2)
 *   d  a decision the policy made on a call of the process or of a child (pid
 *      p, at time t): the question it was asked as a decision record keeps it
 *      (agent, syscall, access, path, req: policy-input.ts) and its effect and
 *      rule, so that a replay's candidate policy judges the children's calls
 *      too and reads the trust and tokens the process had (version 2)
 *   cut  the tape reached its size limit here; nothing after it is kept
 *   x  the end: exit status and reason
 */
import type { PolicyInput } from '../recorder/policy-input.ts';
import type { Encoded } from './codec.ts';

export const TAPE_FORMAT = 'agent-kernel-run';
export const TAPE_VERSION = 2;
/** Versions this agent-kernel reads: 1 has no decisions of children (d). */
export const TAPE_VERSIONS: readonly number[] = [1, 2];
export const TAPE_FILE = 'tape.jsonl';
export const POLICY_FILE = 'policy.yaml';

export interface TapeHeader {
  readonly format: typeof TAPE_FORMAT;
  readonly version: number;
  /** The program as given, and a digest of what was built from it. */
  readonly program: { readonly path: string; readonly hash: string };
  readonly argv: readonly string[];
  /** The environment the program saw (secrets as their placeholders). */
  readonly env: Readonly<Record<string, string>>;
  readonly agentId?: string;
  readonly manifest: { readonly labels?: Readonly<Record<string, string>>; readonly capabilities?: readonly string[]; readonly autonomy?: string };
  readonly policyVersion: string;
  /** When the run started (ms since the epoch). */
  readonly started: number;
  /** The limits the process ran under (heap, CPU, wall time, files, VFS quota…): a replay runs under the same. */
  readonly limits: Readonly<Record<string, number>>;
  /** The recorded process's pid (version 2): its own decisions (d) tell a replay its trust and tokens, its children's are judged. */
  readonly pid?: number;
}

/** t is when the reply came (ms since the epoch); d how long the call took (ms; for a queued call, in its completion). */
export type CallEvent = { readonly k: 'c'; readonly n: number; readonly m: 'b' | 'a'; readonly f?: number; readonly s: Encoded; readonly a: Encoded[]; readonly r: Encoded; readonly t: number; readonly d?: number };
export type BatchEvent = { readonly k: 'b'; readonly c: readonly { readonly id: number; readonly r: Encoded; readonly d?: number }[] };
export type SignalsEvent = { readonly k: 'g'; readonly s: readonly string[] };
export type ClockEvent = { readonly k: 't'; readonly v: number };
export type OutputEvent = { readonly k: 'o'; readonly f: 1 | 2; readonly d: Encoded };
export type DecisionEvent = { readonly k: 'd'; readonly p: number; readonly t: number; readonly agent: string; readonly syscall: string; readonly access: string; readonly path?: string; readonly req: PolicyInput; readonly effect: string; readonly rule: string };
/** The reply of a blocking call that waited for it (its call line came first, without r). Merged into the call when read. */
export type ReplyEvent = { readonly k: 'r'; readonly n: number; readonly r: Encoded; readonly t: number; readonly d?: number };
export type CutEvent = { readonly k: 'cut'; readonly why: string };
export type EndEvent = { readonly k: 'x'; readonly status: number; readonly reason: string; readonly signal?: string };

/** What a tape holds once read: reply lines merged into their calls. */
export type TapeEvent = CallEvent | BatchEvent | SignalsEvent | ClockEvent | OutputEvent | DecisionEvent | CutEvent | EndEvent;
/** What a tape's lines are. */
export type TapeLine = TapeEvent | ReplyEvent;
