/**
 * The seed signal table: numbers are fixed here once. Delivery, masks and
 * handlers arrive with the signals issue; the kernel already uses the numbers
 * for exit statuses (death by signal N exits with 128 + N).
 */
export const SIGNALS = {
  SIGSTOP: { nr: 1, action: 'stop', maskable: true },
  SIGCONT: { nr: 2, action: 'continue', maskable: true },
  SIGINT: { nr: 3, action: 'terminate', maskable: true },
  SIGKILL: { nr: 4, action: 'terminate', maskable: false },
  SIGTERM: { nr: 5, action: 'terminate', maskable: true },
  SIGUSR1: { nr: 6, action: 'checkpoint', maskable: true },
  SIGPOLICY: { nr: 8, action: 'terminate', maskable: false },
  SIGTRUST: { nr: 9, action: 'terminate', maskable: false },
} as const;

export type SignalName = keyof typeof SIGNALS;

/** exitStatusForSignal is the wait status of a process killed by `sig`. */
export function exitStatusForSignal(sig: SignalName): number {
  return 128 + SIGNALS[sig].nr;
}

/** parseSignal accepts `KILL`, `SIGKILL` or `4`; returns undefined otherwise. */
export function parseSignal(text: string): SignalName | undefined {
  const upper = text.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (Object.hasOwn(SIGNALS, name)) return name as SignalName;
  const nr = Number(text);
  for (const [n, row] of Object.entries(SIGNALS)) if (row.nr === nr) return n as SignalName;
  return undefined;
}
