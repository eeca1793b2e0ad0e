/**
 * How test/hosts/slow-host.ts is told when to stop reading its channel:
 * environment variables that its host process inherits from the test's.
 */
export interface SlowHost {
  /** Bytes through the channel before it stops reading (once). */
  readonly after: number;
  /** How long it stops, ms. */
  readonly pauseMs: number;
  /** Stop only where a frame ends. */
  readonly atFrame?: boolean;
  /** Read again as soon as the host has written this many frames. */
  readonly resumeWrites?: number;
}

const NAMES = ['SLOW_HOST_AFTER', 'SLOW_HOST_PAUSE_MS', 'SLOW_HOST_AT_FRAME', 'SLOW_HOST_RESUME_WRITES'] as const;

/** slowHost sets what the next slow host started does. */
export function slowHost(settings: SlowHost): void {
  process.env.SLOW_HOST_AFTER = String(settings.after);
  process.env.SLOW_HOST_PAUSE_MS = String(settings.pauseMs);
  if (settings.atFrame === true) process.env.SLOW_HOST_AT_FRAME = '1';
  if (settings.resumeWrites !== undefined) process.env.SLOW_HOST_RESUME_WRITES = String(settings.resumeWrites);
}

/** clearSlowHost leaves the next host started a host that reads. */
export function clearSlowHost(): void {
  for (const name of NAMES) delete process.env[name];
}
