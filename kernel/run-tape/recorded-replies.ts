/**
 * What the player reads off a recorded reply (player.ts): whether the
 * recorded kernel refused the call (a replay feeds such a call, as the
 * kernel did nothing for it), the id of a call it answered `queued`, the fd
 * of a fetch body it streamed; and whether written bytes are the recorded
 * ones.
 */
import type { WireReply } from '../wire-reply.ts';

/** bodyFd is the fd of a fetch body streamed to the caller, in a fed SYS_EXEC reply. */
export function bodyFd(reply: WireReply): number | undefined {
  if (reply.t !== 'value' || reply.v === null || typeof reply.v !== 'object') return undefined;
  const output = (reply.v as { output?: unknown }).output;
  const fd = output !== null && typeof output === 'object' ? (output as { bodyFd?: unknown }).bodyFd : undefined;
  return typeof fd === 'number' ? fd : undefined;
}

/** Refusals: the recorded kernel did nothing for such a call (a limit, a capability or the policy said no), so a replay feeds it. */
const REFUSALS: ReadonlySet<string> = new Set(['EAGAIN', 'EACCES', 'EPERM']);

/** refused: the recorded kernel refused the call (busy, or a refusal's errno). */
export function refused(reply: WireReply): boolean {
  return reply.t === 'busy' || (reply.t === 'fault' && REFUSALS.has(reply.errno));
}

/** sameBytes: `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** queuedId is the id of a call the recorded kernel answered `queued`, else undefined. */
export function queuedId(reply: WireReply): number | undefined {
  return reply.t === 'queued' ? reply.id : undefined;
}
