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

/** limitsFromPolicy maps the policy's snake_case `defaults.limits` onto ProcessLimits. */
export function limitsFromPolicy(limits: Readonly<Record<string, number>> | undefined): LimitRequest | undefined {
  if (limits === undefined) return undefined;
  return {
    heapMib: limits.heap_mib,
    cpuMs: limits.cpu_ms,
    wallMs: limits.wall_ms,
    syscallsPerSecond: limits.syscalls_per_second,
    kernelMsPerSecond: limits.kernel_ms_per_second,
    openFiles: limits.open_files,
    children: limits.children,
    outputBytes: limits.output_bytes,
    vfsBytes: limits.vfs_bytes,
    vfsInodes: limits.vfs_inodes,
  };
}
