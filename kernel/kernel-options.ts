/** The options of a Kernel and of one spawn. */
import type { SyscallContext } from '../syscalls/context.ts';
import type { DecisionRecorder } from '../syscalls/records.ts';
import type { Telemetry } from '../syscalls/telemetry.ts';
import type { Approver, Confirm } from './approvals.ts';
import type { AgentManifest } from './capabilities.ts';
import type { Entry, OutputSink } from './fd-entries.ts';
import type { FdTable } from './fd-table.ts';
import type { LimitRequest, ProcessLimits } from './limits.ts';
import type { HostPoolOptions } from './hosts/host-pool.ts';
import type { KernelMount } from './mounts.ts';
import type { Standing } from './policy/authorizer.ts';
import type { SharedLimits } from './policy/limits.ts';
import type { LoadedPolicy } from './policy/load.ts';
import type { Program } from './program.ts';
import type { BoundaryTape } from './run-tape/boundary-tape.ts';
import type { ToolRegistry } from './tools/registry.ts';

export interface KernelOptions {
  /** The policy in force; the built-in default (own tree only) if absent. */
  policy?: LoadedPolicy;
  recorder?: DecisionRecorder;
  /** Answers require_approval questions automatically (or leaves them to an operator). */
  approver?: Approver;
  /** The clock policy rules and approvals use (ms since the epoch). */
  clock?: () => number;
  /** Default limits (DEFAULT_LIMITS where not given: heap 64 MiB, 64 open files, 64 children, 10,000 syscalls/s, 32 MiB and 8,192 files of VFS); the policy caps them. */
  limits?: LimitRequest;
  /** Heap limit per isolate, MiB (isolated-vm minimum 8). Same as limits.heapMib. */
  memoryLimitMib?: number;
  /** Open files per process, counting fds 0–2. Same as limits.openFiles. */
  maxOpenFiles?: number;
  /** How long SIGTERM waits before SIGKILL, ms. Default 5000. */
  termGraceMs?: number;
  /** Host directory where checkpoints are kept across restarts. */
  stateDir?: string;
  /** Mounts in every agent's namespace with their own backends, e.g. `mem/semantic` on Redis. */
  mounts?: readonly KernelMount[];
  /** Programs children may be spawned from by name. */
  programs?: ReadonlyMap<string, Program> | Readonly<Record<string, Program>>;
  /** Processes the kernel holds at once, exited and unreaped ones included (EAGAIN past it). Default 2,048. */
  maxProcesses?: number;
  /** How long an agent's VFS tree is kept after its last process was reaped, ms; for the kernel's life if absent. */
  treeRetentionMs?: number;
  /** Checkpoints kept per agent (older ones are removed); default 5. */
  keepCheckpoints?: number;
  /** The tools SYS_EXEC can run; time.now, tools.list and http.fetch if absent (see kernel/tools/config.ts). */
  tools?: ToolRegistry;
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** Called with each syscall's name and its time in ring 0 (seconds), for metrics. */
  observeSyscall?: (name: string, seconds: number) => void;
  /** Hands out pids (e.g. unique across a cluster); may throw a KernelError to refuse a spawn. Default 1, 2, 3, … */
  pids?: () => number;
  /** Where rule limits (max_calls, rate, token_budget) are counted when the kernel is a cluster node (kernel/cluster/shared-limits.ts); in this process if absent. */
  sharedLimits?: SharedLimits;
  /** Why the kernel may decide nothing now (a cluster node cut off from Redis past its lease, or not yet synced: ClusterNode.lease); every decision is then a deny. */
  standing?: Standing;
  /** Makes an approval the cluster's before it takes effect (ClusterNode.confirmApproval); absent, approvals take effect at once. */
  confirmApproval?: Confirm;
  /** Prefix of approval ids (default `ap-`); a cluster node makes it unique to the node. */
  approvalIdPrefix?: string;
  /** Hands out the numbers of approval ids (agentd: never one handed out before on its state dir). Default 1, 2, 3, … */
  approvalIds?: () => number;
  /** Traces of agent lifetimes, syscall decisions, tool calls and approval waits (kernel/telemetry/otel.ts); none if absent. */
  telemetry?: Telemetry;
  /**
   * Sandbox host processes that run the agents' isolates (kernel/hosts), so
   * that nothing an isolate does ends or degrades this process: `count`
   * hosts, at most `agentsPerHost` agents each. Absent: isolates run in the
   * kernel's own process. Programs are then spawned with spawnAsync.
   * `spares` hosts (default 1) are kept ready in reserve.
   */
  hosts?: Omit<HostPoolOptions, 'record'>;
}

export interface SpawnOptions {
  /** The agent's id; `manifest.id` wins if both are given. Default `agent-<pid>` (`<parent>.<pid>` for a child). */
  agentId?: string;
  /** Labels and capabilities; a child's capabilities must be covered by its parent's. */
  manifest?: Partial<AgentManifest>;
  argv?: readonly string[];
  /** The environment the program sees as process.env (the operator's choice; nothing of the kernel's own environment). */
  env?: Readonly<Record<string, string>>;
  /** Secrets (name → value): the program sees each as a placeholder in process.env; http.fetch puts the value only into requests to the hosts the configuration binds it to. */
  secrets?: Readonly<Record<string, string>>;
  /** The placeholders of those secrets (name → placeholder) in place of fresh ones: a replay gives the recorded ones. */
  secretPlaceholders?: Readonly<Record<string, string>>;
  ppid?: number;
  memoryLimitMib?: number;
  limits?: LimitRequest;
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** fd entries to install as 0, 1 and 2 (pipes shared with another process). */
  fds?: { stdin?: Entry; stdout?: Entry; stderr?: Entry };
  /** A checkpoint directory on the host to seed the agent's mem/ from. */
  restore?: string;
  /** A tape that sees (recording) or answers (replay) every crossing of the process's boundary (kernel/run-tape); made once the process exists. */
  tape?: (process: TapeProcess) => BoundaryTape;
}

/** What a run's tape may use of the process it is made for. */
export interface TapeProcess {
  readonly pid: number;
  readonly fds: FdTable;
  readonly ctx: SyscallContext;
  /** The environment the program sees (secrets as their placeholders). */
  readonly env: Readonly<Record<string, string>>;
  /** The limits it runs under. */
  readonly limits: ProcessLimits;
}
