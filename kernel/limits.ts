/**
 * ProcessLimits are the resources a process and its tree may use. Each is
 * set at spawn and capped by the policy's `defaults.limits`; the smaller
 * wins, and a child never gets more than its parent. Heap and open files
 * are per process; the rest hold for the whole process tree (see
 * Lineage) or, for the VFS quota, the agent's tree of files. Exceeding heap,
 * CPU time or wall time ends the process (SIGKILL, reason recorded); the
 * syscall rate and the kernel-time share answer EAGAIN, open files EMFILE,
 * children EAGAIN, output bytes EFBIG, the VFS quota ENOSPC.
 */
import { POLICY_SCHEMA } from './policy/schema.ts';

export interface ProcessLimits {
  readonly heapMib: number;
  /** CPU time of the whole tree: its isolates and the kernel's work for it. */
  readonly cpuMs?: number;
  /** Wall time from the root's start; children end with it. */
  readonly wallMs?: number;
  /** Syscalls (each one decision record) per second, for the whole tree. */
  readonly syscallsPerSecond?: number;
  /** The kernel's own time the tree may take per second (ms): its share of the shared event loop. */
  readonly kernelMsPerSecond?: number;
  /** Bytes of decision records the tree's syscalls may add to the log per second. */
  readonly logBytesPerSecond?: number;
  readonly openFiles: number;
  /** Processes of the tree besides its root, running or not yet reaped. */
  readonly children?: number;
  /** Bytes the tree may write to the operator's stdout and stderr. */
  readonly outputBytes?: number;
  /** Bytes the agent's VFS tree may hold (memfs and per-agent Redis mounts; checkpoints included). */
  readonly vfsBytes?: number;
  /** Files and directories the agent's VFS tree may hold. */
  readonly vfsInodes?: number;
}

export type LimitRequest = Partial<ProcessLimits>;

/**
 * DEFAULT_LIMITS are what a kernel gives when neither its options nor the
 * policy say otherwise: every agent-sized resource has a bound.
 */
export const DEFAULT_LIMITS = {
  heapMib: 64,
  openFiles: 64,
  children: 64,
  syscallsPerSecond: 10_000,
  kernelMsPerSecond: 500,
  logBytesPerSecond: 8 * 1024 * 1024,
  vfsBytes: 32 * 1024 * 1024,
  vfsInodes: 8192,
} as const satisfies ProcessLimits;

/** combine takes, for each limit, the smaller of what was asked and what the policy allows. */
export function combine(base: ProcessLimits, ...caps: (LimitRequest | undefined)[]): ProcessLimits {
  const out: Record<string, number | undefined> = { ...base };
  for (const cap of caps) {
    if (cap === undefined) continue;
    for (const [key, value] of Object.entries(cap)) {
      if (value === undefined) continue;
      const current = out[key];
      out[key] = current === undefined ? value : Math.min(current, value);
    }
  }
  return out as unknown as ProcessLimits;
}

/**
 * LIMIT_TABLE names each limit as a policy's `defaults.limits`, agentd's
 * `limits:` and `agentctl run --limit` spell it, with the unit of its value
 * and what happens past it. The README's table of limits is made from it
 * (bin/gen-typings.ts), with the defaults of DEFAULT_LIMITS.
 */
export const LIMIT_TABLE = [
  { name: 'heap_mib', key: 'heapMib', unit: 'MiB', pastIt: 'the process ends (SIGKILL, "memory limit exceeded")' },
  { name: 'open_files', key: 'openFiles', unit: 'count', pastIt: 'EMFILE' },
  { name: 'children', key: 'children', unit: 'count', pastIt: 'EAGAIN; processes of the tree besides its root, exited ones not yet waited for included (one whose parent has ended too, which nobody could wait for, the kernel reaps when the tree needs its room)' },
  {
    name: 'syscalls_per_second',
    key: 'syscallsPerSecond',
    unit: 'count',
    pastIt: 'EAGAIN; each syscall is one decision record, so this bounds what the tree writes to the log (the first refusal of a second is recorded, the rest in one summary record)',
  },
  {
    name: 'kernel_ms_per_second',
    key: 'kernelMsPerSecond',
    unit: 'count',
    pastIt: "EAGAIN: the tree's share of the kernel's own time (decoding, matching, hashing, copying, fingerprinting) each second, so no agent monopolises the shared event loop",
  },
  {
    name: 'log_bytes_per_second',
    key: 'logBytesPerSecond',
    unit: 'bytes',
    pastIt: "EAGAIN: the bytes of decision records the tree's syscalls add to a log file each second (agentd's, `agentctl run --log`; a record keeps a path of up to 4 KiB and arguments in the clear, so the syscall rate alone let one agent write ~20 MB/s)",
  },
  {
    name: 'vfs_bytes',
    key: 'vfsBytes',
    unit: 'bytes',
    pastIt: "ENOSPC: what the agent's VFS tree holds (checkpoints included; a per-agent Redis mount has its own quota of the same size, counted in Redis across nodes)",
  },
  { name: 'vfs_inodes', key: 'vfsInodes', unit: 'count', pastIt: "ENOSPC: the files and directories of the agent's VFS tree (as vfs_bytes)" },
  { name: 'cpu_ms', key: 'cpuMs', unit: 'count', pastIt: "the tree ends (SIGKILL): CPU of its isolates plus the kernel's time for it" },
  { name: 'wall_ms', key: 'wallMs', unit: 'count', pastIt: "the tree ends at its root's start + wall_ms" },
  { name: 'output_bytes', key: 'outputBytes', unit: 'bytes', pastIt: "EFBIG: bytes to the operator's stdout and stderr" },
] as const satisfies readonly { readonly name: string; readonly key: keyof ProcessLimits; readonly unit: 'MiB' | 'bytes' | 'count'; readonly pastIt: string }[];

/** LIMIT_NAMES are the limits' snake_case names. */
export const LIMIT_NAMES: readonly string[] = LIMIT_TABLE.map((l) => l.name);

/** limitsFromPolicy maps the policy's snake_case `defaults.limits` onto ProcessLimits. */
export function limitsFromPolicy(limits: Readonly<Record<string, number>> | undefined): LimitRequest | undefined {
  if (limits === undefined) return undefined;
  const out: Record<string, number | undefined> = {};
  for (const { name, key } of LIMIT_TABLE) out[key] = limits[name];
  return out as LimitRequest;
}

/** LimitBound is the range a limit's value may take: at least `minimum`, at most `maximum` if it has one. */
export interface LimitBound {
  /** The limit's snake_case name (LIMIT_TABLE). */
  readonly name: string;
  readonly minimum: number;
  readonly maximum?: number;
}

/** SCHEMA_LIMITS is the policy schema's `defaults.limits` properties: each limit's JSON Schema, by its snake_case name (agentd's `limits:` uses them too). */
export const SCHEMA_LIMITS = POLICY_SCHEMA.properties.defaults.properties.limits.properties;

/**
 * LIMIT_BOUNDS are each limit's range, by its ProcessLimits key: the range a
 * policy's `defaults.limits` may give it, read from the policy schema (not
 * copied). Every other way a limit is given is held to it — `agentctl run`'s
 * flags, a tape's header — so a run records only limits its replay accepts.
 */
export const LIMIT_BOUNDS: ReadonlyMap<keyof ProcessLimits, LimitBound> = new Map(
  LIMIT_TABLE.map(({ name, key }) => {
    const bound = SCHEMA_LIMITS[name];
    return [key, { name, minimum: bound.minimum, ...('maximum' in bound ? { maximum: bound.maximum } : {}) }] as const;
  }),
);

/** limitRange says a limit's range in words: '8 to 65536', or 'at least 1'. */
export function limitRange(bound: LimitBound): string {
  return bound.maximum === undefined ? `at least ${bound.minimum}` : `${bound.minimum} to ${bound.maximum}`;
}

/** inLimitRange: `value` is a whole number within `bound`. */
export function inLimitRange(bound: LimitBound, value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= bound.minimum && (value as number) <= (bound.maximum ?? Number.MAX_SAFE_INTEGER);
}
