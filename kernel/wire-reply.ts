/**
 * The reply protocol as ring 3 reads it: one tagged union. `value` and
 * `fault` are final (with the handler signals the syscall boundary delivers);
 * `wait` sends a blocking call to sleep until its reply comes (a number in
 * the wake buffer, any other collected);
 * `queued` answers an asynchronous call whose completion comes later;
 * `busy` refuses to issue one while the kernel holds enough for the process
 * (the runtime issues it again after the next completion).
 */
import type { Reply } from '../syscalls/dispatch.ts';

export type WireReply =
  | { readonly t: 'value'; readonly v: unknown; readonly sig?: readonly string[] }
  | { readonly t: 'fault'; readonly errno: string; readonly message: string; readonly sig?: readonly string[] }
  | { readonly t: 'wait'; readonly ticket: number }
  | { readonly t: 'queued'; readonly id: number }
  | { readonly t: 'busy'; readonly why: string };

/** wire tags a final reply for ring 3. */
export function wire(reply: Exclude<Reply, { later: unknown }>): WireReply {
  const sig = reply.sig === undefined ? {} : { sig: reply.sig };
  return 'errno' in reply ? { t: 'fault', errno: reply.errno, message: reply.message, ...sig } : { t: 'value', v: reply.v, ...sig };
}
