/**
 * The seed signal table: numbers are fixed here once. `maskable` says whether
 * sigprocmask can hold the signal pending; `catchable` whether an agent may
 * install a handler for it or ignore it. Death by signal N exits 128 + N.
 */
export const SIGNALS = {
  SIGSTOP: { nr: 1, action: 'stop', maskable: true, catchable: false },
  SIGCONT: { nr: 2, action: 'continue', maskable: true, catchable: false },
  SIGINT: { nr: 3, action: 'terminate', maskable: true, catchable: true },
  SIGKILL: { nr: 4, action: 'terminate', maskable: false, catchable: false },
  SIGTERM: { nr: 5, action: 'terminate', maskable: true, catchable: true },
  SIGUSR1: { nr: 6, action: 'checkpoint', maskable: true, catchable: true },
  SIGPOLICY: { nr: 8, action: 'terminate', maskable: false, catchable: false },
  SIGTRUST: { nr: 9, action: 'terminate', maskable: false, catchable: false },
} as const;

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
