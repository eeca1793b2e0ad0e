/**
 * Signal delivery for processes. A signal is state first: it is posted to
 * the target's pending set and acted on when the mask lets it through —
 * unblockable signals end the process at once (even mid-loop: the isolate is
 * disposed); SIGSTOP stops it (its next syscall waits); SIGCONT resumes it;
 * a handled signal runs the agent's handler at the next syscall boundary, or
 * at once if the agent is idle; otherwise the default action runs. A mask
 * holds SIGSTOP only against other processes: an operator's SIGSTOP acts, and
 * only an operator's SIGCONT ends it. A signal the table marks `graceKill`
 * (SIGTERM) that is not ignored escalates to SIGKILL after the grace period. Every
 * outcome is published on the process's stream and the kernel-wide stream.
 */
import type { Subject } from 'rxjs';
import type { Outcome, SignalEvent } from '../signals/signal-state.ts';
import { type DefaultAction, SIGNAL_NAMES, SIGNALS, type SignalName } from '../signals/signal-table.ts';
import type { Process } from './process.ts';

/** SignalHost is what delivery needs from the kernel. */
export interface SignalHost {
  readonly bus: Subject<SignalEvent>;
  readonly termGraceMs: number;
  /** die ends `proc` by `signal` (status 128+N), recording why. */
  die(proc: Process, signal: SignalName, why: string): void;
  /** checkpoint snapshots `proc`'s agent memory (SIGUSR1's default action). */
  checkpoint(proc: Process): void;
}

function publish(host: SignalHost, proc: Process, sender: number | string, signal: SignalName, outcome: Outcome): Outcome {
  // Whatever became of it, the process's calls come to the kernel again: a stop parks them there, a handler rides on a reply.
  proc.sandbox?.revokeLease?.();
  const event: SignalEvent = { time: Date.now(), sender, target: proc.pid, signal, outcome };
  if (proc.exit === undefined) proc.signals.events.next(event);
  host.bus.next(event);
  return outcome;
}

function why(signal: SignalName, sender: number | string): string {
  return `${signal} from ${typeof sender === 'number' ? `pid ${sender}` : sender}`;
}

/**
 * actAndPublish carries out a deliverable signal's action and publishes the
 * outcome; a fatal outcome is published before the process ends, so its own
 * stream sees the signal that ended it before completing.
 */
function actAndPublish(host: SignalHost, proc: Process, signal: SignalName, sender: number | string, shownSender = sender): Outcome {
  const outcome = act(host, proc, signal, typeof shownSender === 'string' && shownSender !== 'mask');
  publish(host, proc, shownSender, signal, outcome);
  if (outcome === 'terminated') host.die(proc, signal, why(signal, sender));
  return outcome;
}

/** The signals whose default action is to stop (SIGCONT clears them while pending). */
const STOP_SIGNALS: readonly SignalName[] = SIGNAL_NAMES.filter((name) => SIGNALS[name].action === 'stop');

/** A default action carried out on `proc`; 'terminated' leaves the ending to the caller. */
type ActionRun = (host: SignalHost, proc: Process, fromOperator: boolean) => Outcome;

/** DEFAULT_ACTIONS: one implementation per default action of the signal table; a new action fails to compile until it has one. */
const DEFAULT_ACTIONS: { readonly [A in DefaultAction]: ActionRun } = {
  stop: (_host, proc, fromOperator) => {
    proc.stop(fromOperator);
    return 'stopped';
  },
  continue: (_host, proc) => resume(proc),
  terminate: () => 'terminated',
  checkpoint: (host, proc) => {
    host.checkpoint(proc);
    return 'checkpointed';
  },
};

/** resume takes `proc` out of a stop and runs what waited (SIGCONT's action). */
function resume(proc: Process): Outcome {
  for (const stop of STOP_SIGNALS) proc.signals.clear(stop);
  const wasStopped = proc.stopped;
  proc.resume();
  kick(proc);
  return wasStopped ? 'continued' : 'ignored';
}

/** act carries out a deliverable signal: the agent's handler or ignore (catchable signals only), else the signal's default action. */
function act(host: SignalHost, proc: Process, signal: SignalName, fromOperator: boolean): Outcome {
  const disposition = proc.signals.disposition(signal);
  if (disposition === 'ignore') return 'ignored';
  if (disposition === 'handle') {
    // One pending delivery per signal, as POSIX keeps standard signals (found by an attacker pass: a busy child queued 100,000 SIGUSR1s).
    if (!proc.handlerQueue.includes(signal)) proc.handlerQueue.push(signal);
    kick(proc);
    return 'delivered';
  }
  return DEFAULT_ACTIONS[SIGNALS[signal].action](host, proc, fromOperator);
}

/** kick runs queued handlers now if the program is idle (not stopped, not in a syscall, not running). */
export function kick(proc: Process): void {
  const sandbox = proc.sandbox;
  if (proc.handlerQueue.length === 0 || proc.stopped || sandbox === undefined || !sandbox.idle) return;
  void sandbox.deliver(proc.handlerQueue.splice(0));
}

/** takeHandlerSignals hands queued handler signals to a syscall reply (the syscall boundary). */
export function takeHandlerSignals(proc: Process): SignalName[] | undefined {
  return proc.handlerQueue.length === 0 ? undefined : proc.handlerQueue.splice(0);
}

/** sendSignal posts `signal` to `proc` from `sender` (a pid or an operator name) and returns its outcome. */
export function sendSignal(host: SignalHost, proc: Process, signal: SignalName, sender: number | string): Outcome {
  if (proc.exit !== undefined) return publish(host, proc, sender, signal, 'ignored');
  const spec = SIGNALS[signal];
  if (!spec.maskable) {
    publish(host, proc, sender, signal, 'terminated');
    host.die(proc, signal, why(signal, sender));
    return 'terminated';
  }
  if (spec.action === 'continue') {
    // What an operator stopped, only an operator resumes: a parent cannot SIGCONT its child out of an operator's SIGSTOP.
    if (typeof sender === 'number' && proc.stoppedByOperator) return publish(host, proc, sender, signal, 'ignored');
    return publish(host, proc, sender, signal, resume(proc));
  }
  if (spec.graceKill && proc.signals.disposition(signal) !== 'ignore') {
    proc.addTimer(host.termGraceMs, () => {
      if (proc.exit === undefined) sendSignal(host, proc, 'SIGKILL', `SIGTERM grace period (${host.termGraceMs} ms)`);
    });
  }
  // An operator's SIGSTOP is never held by the mask: an agent cannot make itself unstoppable.
  const operatorStop = spec.action === 'stop' && typeof sender === 'string';
  if (proc.signals.blocked(signal) && !operatorStop) {
    proc.signals.post(signal);
    return publish(host, proc, sender, signal, 'pending');
  }
  return actAndPublish(host, proc, signal, sender);
}

/** deliverUnblocked acts on pending signals the mask now lets through (after sigprocmask). */
export function deliverUnblocked(host: SignalHost, proc: Process): void {
  for (let signal = proc.signals.takeDeliverable(); signal !== undefined && proc.exit === undefined; signal = proc.signals.takeDeliverable()) {
    actAndPublish(host, proc, signal, 'pending', 'mask');
  }
}
