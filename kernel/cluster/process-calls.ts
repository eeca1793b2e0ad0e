/**
 * Process calls: an operation on one process (a signal, its output, a look
 * into its agent tree, a checkpoint) answered by the node that runs the
 * process, whichever node was asked. Each operation is written once, for a
 * process of this node, by the module that implements it; `ProcessCalls.define`
 * makes the same function answer other nodes' requests (over NodeRpc, the
 * node-to-node requests in rpc.ts) and returns the function callers use for
 * any pid of the cluster. A relayed answer is therefore the owner's own
 * answer, errors included.
 */
import { KernelError } from '../../abi/errno.ts';
import type { DirectoryEntry } from './directory.ts';
import type { ClusterNode } from './node.ts';
import type { NodeRpc } from './rpc.ts';

/** Every operation a node relays to the node that runs the process, and how long it waits for that node's answer (ms). */
export const PROCESS_CALLS = {
  /** An exited process is refused before its node is asked: there is nothing left to deliver a signal to. */
  signal: { timeoutMs: 2000, liveOnly: true },
  /** The same, to every live process of the pid's tree (which lives on the node of its root); the pid itself may have exited. */
  'signal.tree': { timeoutMs: 2000, liveOnly: false },
  output: { timeoutMs: 2000, liveOnly: false },
  'vfs.ls': { timeoutMs: 2000, liveOnly: false },
  'vfs.cat': { timeoutMs: 2000, liveOnly: false },
  'vfs.checkpoints': { timeoutMs: 2000, liveOnly: false },
  /** Copies the agent's mem/ tree on its node before it answers. */
  checkpoint: { timeoutMs: 10_000, liveOnly: false },
} as const satisfies Record<string, { timeoutMs: number; liveOnly: boolean }>;

export type ProcessCallKind = keyof typeof PROCESS_CALLS;

/**
 * ProcessOperation runs on the node that runs `pid`. `via` is the node the
 * request came through when another node relayed it (undefined when asked
 * here). It throws ESRCH (or its own KernelError) as it would for a local
 * request; body and answer must survive JSON.
 */
export type ProcessOperation<B extends object, A> = (pid: number, body: B, via?: string) => A | Promise<A>;

/** ProcessCall is a ProcessOperation callable for any pid of the cluster. */
export type ProcessCall<B extends object, A> = (pid: number, body: B) => Promise<A>;

/** What ProcessCalls needs of its node. */
export interface ProcessCallsHost {
  readonly node: string;
  readonly rpc: NodeRpc;
  /** runs: whether this node runs `pid` (asks no one). */
  runs(pid: number): boolean;
  /** lookup: the directory's entry for `pid`, undefined if it has none; EIO while Redis is away. */
  lookup(pid: number): Promise<DirectoryEntry | undefined>;
  /** shared runs a Redis operation, turning a connection failure into EIO. */
  shared<T>(what: string, run: () => Promise<T>): Promise<T>;
}

export class ProcessCalls {
  private readonly host: ProcessCallsHost;

  constructor(host: ProcessCallsHost) {
    this.host = host;
  }

  /**
   * define makes `local` answer other nodes' `kind` requests and returns it
   * as a ProcessCall: run here when this node runs the pid (no Redis needed)
   * or when the directory does not know the pid (so `local` says ESRCH in
   * its own words), else on the node that runs it. Errors beyond `local`'s:
   * ESRCH for a process lost with its node (or exited, for a live-only
   * kind), EIO while Redis is away or the node is not listening, ETIMEDOUT
   * when the node does not answer in time.
   */
  define<B extends object, A>(kind: ProcessCallKind, local: ProcessOperation<B, A>): ProcessCall<B, A> {
    const { node, rpc } = this.host;
    const { timeoutMs, liveOnly } = PROCESS_CALLS[kind];
    rpc.handle(kind, (request, from) => {
      const { pid, ...body } = request as { pid: unknown };
      if (typeof pid !== 'number') throw new KernelError('EINVAL', `${kind} from node ${from}: no pid`);
      return local(pid, body as B, from);
    });
    return async (pid, body) => {
      if (this.host.runs(pid)) return local(pid, body);
      const entry = await this.host.lookup(pid);
      if (entry?.state === 'lost') throw new KernelError('ESRCH', `process ${pid} was lost with node ${entry.node}`);
      if (entry === undefined || entry.node === node) return local(pid, body);
      if (liveOnly && entry.state === 'exited') throw new KernelError('ESRCH', `process ${pid} has exited (on node ${entry.node})`);
      return this.host.shared(`cannot relay ${kind} of pid ${pid} to node ${entry.node}`, () => rpc.request<A>(entry.node, kind, { ...body, pid }, timeoutMs));
    };
  }
}

/** atOwner is `cluster.processCall(kind, local)` on a cluster node, and `local` itself when agentd runs alone. */
export function atOwner<B extends object, A>(cluster: ClusterNode | undefined, kind: ProcessCallKind, local: ProcessOperation<B, A>): ProcessCall<B, A> {
  return cluster?.processCall(kind, local) ?? (async (pid, body) => local(pid, body));
}
