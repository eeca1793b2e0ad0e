/**
 * The gate every syscall of a process passes before dispatch: it counts the
 * call against its tree's rate limit, its share of the kernel's time and of
 * the decision log's bytes (EAGAIN past any: the first refusal of a window is recorded, the rest
 * are summed up in one record when the window ends, so a flood costs the log
 * two records a second), parks the call while
 * the process is stopped, charges the kernel's own time for it to the tree,
 * and hands queued handler signals to the reply (the syscall boundary).
 * A timer (SYS_TIMER) past the limits is not refused: it waits for the next
 * window, so an event loop that spins on timers slows down instead of failing.
 * An asynchronous call leaves the process's state alone (the process goes on
 * running); its completion is held while the process is stopped.
 */
import type { DecisionRecorder } from '../syscalls/records.ts';
import type { Reply } from '../syscalls/dispatch.ts';
import { ROW_BY_NR, SYSCALL_NUMBERS, syscallName } from '../syscalls/table.ts';
import { takeHandlerSignals } from './process-signals.ts';
import { MAX_OUTSTANDING, MAX_OUTSTANDING_LOOP } from './async-calls.ts';
import type { Process } from './process.ts';

export interface GateHost {
  readonly recorder: DecisionRecorder;
  /** The kernel's clock (KernelOptions.clock): the rate and kernel-time windows run on it. */
  readonly clock: () => number;
  /** Called with each syscall's name and its time in ring 0 (seconds), for metrics. */
  readonly observeSyscall?: (name: string, seconds: number) => void;
}

/** The reply a syscall parked by SIGSTOP gets when its process ends instead of continuing: it never runs. */
const ENDED_WHILE_STOPPED: Reply = { errno: 'EINTR', message: 'the process ended while stopped' };
/**
 * The most asynchronous calls of one stopped process that wait in the kernel
 * for SIGCONT, their arguments with them. Its sandbox holds new ones back in
 * ring 3 while it is stopped (kernel/async-calls.ts); this bounds what comes
 * anyway: its event loop's timers, calls a sandbox host sent before it heard
 * of the stop (their bytes bounded by the host's MAX_SANDBOX_CALL_BYTES). As
 * many as it may have outstanding: an honest program on a host, stopped in
 * the middle of a burst, sees no error it would not have seen running (a
 * review: at 128, 19,515 of 21,077 calls of such a burst were refused).
 */
export const MAX_PARKED_CALLS = MAX_OUTSTANDING + MAX_OUTSTANDING_LOOP;

const RATE_RULE = 'limit.syscalls_per_second';
const SHARE_RULE = 'limit.kernel_ms_per_second';
const LOG_RULE = 'limit.log_bytes_per_second';

/** refusal is why a call past its tree's limits is refused: the rule, the record's reason and the errno's message. */
function refusal(lineage: Process['lineage']): { rule: string; why: string; message: string } {
  const { syscallsPerSecond, kernelMsPerSecond, logBytesPerSecond } = lineage.limits;
  if (lineage.overShare) return { rule: SHARE_RULE, why: `more than ${kernelMsPerSecond} ms of kernel time this second`, message: `kernel time limit of ${kernelMsPerSecond} ms per second reached` };
  if (lineage.overLog) return { rule: LOG_RULE, why: `more than ${logBytesPerSecond} bytes of decision records this second`, message: `decision log limit of ${logBytesPerSecond} bytes per second reached` };
  return { rule: RATE_RULE, why: `more than ${syscallsPerSecond} syscalls per second`, message: `syscall rate limit of ${syscallsPerSecond} per second reached` };
}


/** settled waits out a blocked reply. */
async function settled(reply: Reply): Promise<Reply> {
  return 'later' in reply ? reply.later : reply;
}

/** withSignals attaches queued handler signals to a reply: the runtime runs them before returning. */
function withSignals(proc: Process, reply: Reply): Reply {
  const sig = takeHandlerSignals(proc);
  return sig === undefined ? reply : { ...reply, sig };
}

/** recordRefusals writes the one record that sums up a window's refused calls after the first. */
export function recordRefusals(host: GateHost, proc: Process, refused: number): void {
  try {
    host.recorder.record({ type: 'limit', pid: proc.pid, agentId: proc.agentId, detail: `${refused} more syscalls refused by ${RATE_RULE}, ${SHARE_RULE} or ${LOG_RULE} (${proc.lineage.limits.syscallsPerSecond} per second, ${proc.lineage.limits.kernelMsPerSecond} ms of kernel time per second, ${proc.lineage.limits.logBytesPerSecond} bytes of decision records per second, for the tree of pid ${proc.lineage.rootPid})` });
  } catch {
    // the calls were refused either way
  }
}

const TIMER_NR = SYSCALL_NUMBERS.SYS_TIMER;

/** parked is a call of a stopped process: it runs once the process is continued, EINTR if it ends first. */
function parked(proc: Process, run: () => Reply): Reply {
  proc.parked++;
  return {
    later: proc.continued().then(() => {
      proc.parked--;
      return proc.exit === undefined ? settled(run()) : ENDED_WHILE_STOPPED;
    }),
  };
}

/** syscallGate runs `run` (the dispatch of syscall `nr`) for `proc` through the gate; `mode` says whether the caller sleeps for the reply. */
export function syscallGate(host: GateHost, proc: Process, nr: unknown, run: () => Reply, mode: 'blocking' | 'async' = 'blocking'): Reply {
  proc.syscalls++;
  if (mode === 'blocking') proc.state = 'running';
  const lineage = proc.lineage;
  const verdict = lineage.admit(host.clock(), (refused) => recordRefusals(host, proc, refused));
  if (verdict !== 'ok' && nr === TIMER_NR) {
    // A timer waits for the tree's next window rather than failing; it counts once, as the call it is when it gets through.
    proc.syscalls--;
    const later = new Promise<Reply>((resolve) => proc.addTimer(lineage.windowRemainingMs(host.clock()), () => resolve(settled(syscallGate(host, proc, nr, run, mode)))));
    return { later };
  }
  if (verdict !== 'ok') {
    const { rule, why, message } = refusal(lineage);
    if (verdict === 'refused-first') {
      try {
        host.recorder.record({ type: 'syscall', pid: proc.pid, agentId: proc.agentId, syscall: syscallName(nr), access: 'none', effect: 'deny', rule, reason: `${why} (the tree of pid ${lineage.rootPid})` });
      } catch {
        // refused either way
      }
    }
    return { errno: 'EAGAIN', message };
  }
  const started = performance.now();
  if (proc.stopped && mode === 'async' && proc.parked >= MAX_PARKED_CALLS) return { errno: 'EAGAIN', message: `the process is stopped, and ${MAX_PARKED_CALLS} of its calls already wait for SIGCONT` };
  // Metered when it runs, a parked call too (a review: continued, its kills' signal and exit records went uncounted).
  const reply = proc.stopped ? parked(proc, () => lineage.meter(host.recorder, run)) : lineage.meter(host.recorder, run);
  const ms = performance.now() - started;
  lineage.charge(ms * 1e6);
  if (host.observeSyscall !== undefined && !('later' in reply)) {
    const name = typeof nr === 'number' ? ROW_BY_NR[nr]?.name : undefined;
    if (name !== undefined) host.observeSyscall(name, ms / 1000);
  }
  if (!('later' in reply)) return withSignals(proc, reply);
  if (mode === 'async') return { later: reply.later.then(async (final) => (await proc.continued(), withSignals(proc, final))) };
  proc.state = proc.stopped ? 'stopped' : 'blocked';
  return {
    later: reply.later.then(async (final) => {
      await proc.continued();
      if (proc.state === 'blocked' || proc.state === 'stopped') proc.state = 'running';
      return withSignals(proc, final);
    }),
  };
}
