/**
 * The seed signal table: numbers are fixed here once. `action` is the
 * default action (kernel/process-signals.ts has one implementation per
 * action, checked exhaustive by the compiler); `maskable` says whether
 * sigprocmask can hold the signal pending; `catchable` whether an agent may
 * install a handler for it or ignore it; `graceKill`, that unless ignored it
 * turns into SIGKILL after the kernel's grace period. Death by signal N exits
 * 128 + N. `processes`: a process may send it (SYS_SIGNAL); the kernel's own
 * signals are sent by the kernel and by operators only, so that a death by
 * one is never a parent's doing. `note` is what the README's table of
 * signals says of it (that table is made from this one: bin/gen-typings.ts).
 */
export const SIGNALS = {
  SIGSTOP: {
    nr: 1,
    action: 'stop',
    maskable: true,
    catchable: false,
    graceKill: false,
    processes: true,
    note: "the agent's next syscall waits for SIGCONT; a mask holds it only against other processes — an operator's SIGSTOP always acts. It stops that process only, not its children",
  },
  SIGCONT: { nr: 2, action: 'continue', maskable: true, catchable: false, graceKill: false, processes: true, note: "what an operator stopped only an operator resumes: a process's SIGCONT to it is `ignored`" },
  SIGINT: { nr: 3, action: 'terminate', maskable: true, catchable: true, graceKill: false, processes: true, note: 'catchable' },
  SIGKILL: { nr: 4, action: 'terminate', maskable: false, catchable: false, graceKill: false, processes: true, note: 'at once, even in `while (true) {}`: the isolate is disposed' },
  SIGTERM: { nr: 5, action: 'terminate', maskable: true, catchable: true, graceKill: true, processes: true, note: 'catchable; SIGKILL after the grace period (default 5 s) unless ignored' },
  SIGUSR1: { nr: 6, action: 'checkpoint', maskable: true, catchable: true, graceKill: false, processes: true, note: 'catchable' },
  SIGPOLICY: { nr: 8, action: 'terminate', maskable: false, catchable: false, graceKill: false, processes: false, note: "sent by a rule's `on_violation`, or an operator; a process may not send it (EPERM)" },
  SIGTRUST: { nr: 9, action: 'terminate', maskable: false, catchable: false, graceKill: false, processes: false, note: "sent to every process of an agent whose trust score falls below the policy's `defaults.trust_floor`, or by an operator; a process may not send it (EPERM)" },
} as const satisfies Record<`SIG${string}`, { nr: number; action: 'stop' | 'continue' | 'terminate' | 'checkpoint'; maskable: boolean; catchable: boolean; graceKill: boolean; processes: boolean; note: string }>;

export type SignalName = keyof typeof SIGNALS;
export type DefaultAction = (typeof SIGNALS)[SignalName]['action'];

export const SIGNAL_NAMES = Object.keys(SIGNALS) as readonly SignalName[];

/** exitStatusForSignal is the wait status of a process killed by `sig`. */
export function exitStatusForSignal(sig: SignalName): number {
  return 128 + SIGNALS[sig].nr;
}

/** parseSignal accepts `KILL`, `SIGKILL` or `4`; returns undefined otherwise. */
export function parseSignal(text: string): SignalName | undefined {
  const upper = text.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (Object.hasOwn(SIGNALS, name)) return name as SignalName;
  if (!/^\d+$/.test(text)) return undefined;
  const nr = Number(text);
  return SIGNAL_NAMES.find((n) => SIGNALS[n].nr === nr);
}
