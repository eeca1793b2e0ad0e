/**
 * wholeNumber reads a count or a number a command-line option gives: plain
 * decimal digits, a safe integer, or undefined. `Number(text)` read '' and
 * ' ' as 0 (`--fork-at "$N"` with N unset went live from the first call),
 * '0x10' as 16 and 1e20 as a number past what is exact (a bad-input pass).
 */
export function wholeNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^(0|[1-9][0-9]*)$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** ArgumentError is a command-line argument that does not read (a pid, a count): exit status 2, as any usage error. */
export class ArgumentError extends Error {}
