/**
 * An approver beyond the terminal: agentd POSTs each question to a webhook
 * (a chat bot, a ticketing system, a reviewer service) and takes the answer
 * from its reply or, later, from a signed callback.
 *
 * The question: `POST <url>` with JSON `{ id, agent, pid, syscall, path?,
 * tool?, rule, reason, policy_version?, requested_at, deadline, callback }`
 * and the headers `x-agent-kernel-timestamp: <ms>` and
 * `x-agent-kernel-signature: sha256=<hex>`, the HMAC-SHA256 with the shared
 * secret of `<timestamp>.<body>`. The webhook answers at once with 200 and
 * `{ "approved": true|false, "reason": "…" }`, or with 202 and later through
 * `POST <callback>` (agentd's `/v1/approvals/<id>/callback`) with the body
 * `{ "approved": …, "reason": "…" }` and the same two headers, the signature
 * over `callback.<timestamp>.<id>.<requested_at>.<approve|deny>.<reason>`.
 * No bearer token: the signature is the credential. The URL must be https
 * (http only on loopback, where nothing sits between), and redirects are
 * refused, so the reply that approves comes from the webhook itself. A webhook that cannot be reached, answers
 * anything else, or takes longer than `timeout_ms` denies at once; one that
 * never calls back leaves the question to its timeout (deny). The answer is
 * recorded with approver `webhook`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ApprovalAnswer } from '../../../syscalls/context.ts';
import type { Approver, PendingApproval } from '../../approvals.ts';
import { questionJson } from './question.ts';

export interface WebhookSettings {
  readonly url: string;
  readonly secret: string;
  /** How long the webhook may take to reply to a question, ms. */
  readonly timeoutMs: number;
}

export const TIMESTAMP_HEADER = 'x-agent-kernel-timestamp';
export const SIGNATURE_HEADER = 'x-agent-kernel-signature';

/** How far a callback's timestamp may be from agentd's clock, ms: an old signed answer cannot be replayed later. */
export const CALLBACK_SKEW_MS = 5 * 60_000;

/** signature is the header value for `payload` signed with `secret`. */
export function signature(secret: string, payload: string): string {
  return `sha256=${createHmac('sha256', secret).update(payload).digest('hex')}`;
}

/**
 * callbackPayload is what a callback's signature covers: the question's id
 * and the time it was asked (`requested_at`, so a callback captured for one
 * agentd cannot answer another's question of the same id), and the answer.
 */
export function callbackPayload(timestamp: string, id: string, requestedAt: number, approved: boolean, reason: string): string {
  return `callback.${timestamp}.${id}.${requestedAt}.${approved ? 'approve' : 'deny'}.${reason}`;
}

/** signedBy: `header` is `secret`'s signature of `payload` (compared in constant time). */
export function signedBy(secret: string, payload: string, header: string | undefined): boolean {
  if (header === undefined) return false;
  const want = Buffer.from(signature(secret, payload));
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

const denied = (reason: string): ApprovalAnswer => ({ approved: false, approver: 'webhook', reason });

/** answerOf reads a webhook's immediate answer; undefined when it is not one. */
function answerOf(body: unknown): ApprovalAnswer | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const { approved, reason } = body as { approved?: unknown; reason?: unknown };
  if (typeof approved !== 'boolean') return undefined;
  return { approved, approver: 'webhook', reason: typeof reason === 'string' && reason !== '' ? reason.slice(0, 1000) : approved ? 'approved' : 'denied' };
}

/**
 * webhookApprover asks `settings.url` about each question; `callbackUrl(id)`
 * is where the webhook may answer later (agentd's own URL, known once it listens).
 */
export function webhookApprover(settings: WebhookSettings, callbackUrl: (id: string) => string): Approver {
  return async (approval: PendingApproval) => {
    const body = JSON.stringify({ ...questionJson(approval), callback: callbackUrl(approval.id) });
    const timestamp = String(Date.now());
    let res: Response;
    try {
      res = await fetch(settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signature(settings.secret, `${timestamp}.${body}`) },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(settings.timeoutMs),
      });
    } catch (err) {
      const why = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.name : String(err));
      return denied(`the approval webhook could not be asked (${why})`);
    }
    if (res.status === 202) {
      await res.body?.cancel();
      return undefined; // the answer comes by callback, or the question times out (deny)
    }
    let parsed: unknown;
    try {
      parsed = res.status === 200 ? await res.json() : undefined;
    } catch {
      parsed = undefined;
    }
    return answerOf(parsed) ?? denied(`the approval webhook answered HTTP ${res.status}${res.status === 200 ? ' without { approved: true|false }' : ''}`);
  };
}
