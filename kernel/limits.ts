/**
 * ProcessLimits are the resources one process may use. Each is set at spawn
 * and capped by the policy's `defaults.limits`; the smaller wins. Exceeding
 * heap, CPU time or wall time ends the process (SIGKILL, reason recorded);
 * the syscall rate answers EAGAIN, open files EMFILE, children EAGAIN,
 * output bytes EFBIG.
 */
export interface ProcessLimits {
  readonly heapMib: number;
  readonly cpuMs?: number;
  readonly wallMs?: number;
  readonly syscallsPerSecond?: number;
  readonly openFiles: number;
  readonly children?: number;
  readonly outputBytes?: number;
}

export type LimitRequest = Partial<ProcessLimits>;

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
    openFiles: limits.open_files,
    children: limits.children,
    outputBytes: limits.output_bytes,
  };
}
