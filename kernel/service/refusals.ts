/**
 * RefusalLog counts every 401, 403 and 429 (an agent past its evaluation
 * rate, kernel/service/evaluate-rate.ts) agentd answers, and every request
 * refused for load ('busy': a credential holding its most requests or body
 * bytes at once, kernel/service/agent-load.ts), and samples them into
 * the decision log: the first refusal per client per window is recorded in
 * full, the rest only as one summary record per window ("N more 401s from
 * ADDR"). At most `maxClients` clients are tracked in a window; refusals
 * from further clients are summed into one overflow summary. So a client
 * that floods agentd with bad tokens costs two records per window, and the
 * memory kept is bounded whatever it sends; the metric counters stay exact.
 */
import { Counter } from 'prom-client';
import type { DecisionInput } from '../../syscalls/records.ts';
import type { Metrics } from './metrics.ts';

export type RefusalStatus = 401 | 403 | 429 | 'busy';

/** plural names refusals of `status` in a summary: '401s', 'busy refusals'. */
const plural = (status: RefusalStatus): string => (status === 'busy' ? 'busy refusals' : `${status}s`);

export interface RefusalLogOptions {
  /** Where records go (the daemon's decision log). */
  readonly log: { record(entry: DecisionInput): number };
  readonly metrics: Metrics;
  readonly windowMs: number;
  readonly maxClients: number;
}

interface Tally {
  readonly status: RefusalStatus;
  readonly client: string;
  /** Refusals after the first one recorded in this window. */
  more: number;
}

export class RefusalLog {
  private readonly options: RefusalLogOptions;
  private readonly forbidden: Counter;
  private readonly limited: Counter;
  private readonly busy: Counter;
  private readonly tallies = new Map<string, Tally>();
  private readonly overflow: Record<RefusalStatus, number> = { 401: 0, 403: 0, 429: 0, busy: 0 };
  private readonly timer: NodeJS.Timeout;
  /** Refusals whose records the log refused since it last took one. */
  private unwritten = 0;

  constructor(options: RefusalLogOptions) {
    this.options = options;
    this.forbidden = new Counter({ name: 'agentk_http_forbidden_total', help: 'Requests refused because the principal may not make them (403)', registers: [options.metrics.registry] });
    this.limited = new Counter({ name: 'agentk_evaluate_rate_limited_total', help: 'Decisions refused because their agent asked more than evaluate.per_second: /v1/evaluate answers (429) and /v1/mcp tools/calls (EAGAIN)', registers: [options.metrics.registry] });
    this.busy = new Counter({ name: 'agentk_http_busy_total', help: 'Requests refused for load: an agent credential holding its most requests or body bytes at once (429), agent bodies filling their share of memory, an agent on a connection kept for the operator (503)', registers: [options.metrics.registry] });
    this.timer = setInterval(() => this.flush(), options.windowMs);
    this.timer.unref();
  }

  /**
   * refused counts one refusal of `client` (an address, or an address and a
   * principal) and records `detail` if it is the client's first in this window.
   */
  refused(status: RefusalStatus, client: string, detail: string): void {
    if (status === 401) this.options.metrics.unauthorized.inc();
    else if (status === 403) this.forbidden.inc();
    else if (status === 429) this.limited.inc();
    else this.busy.inc();
    const key = `${status} ${client}`;
    const tally = this.tallies.get(key);
    if (tally !== undefined) {
      tally.more++;
      return;
    }
    if (this.tallies.size >= this.options.maxClients) {
      this.overflow[status]++;
      return;
    }
    this.tallies.set(key, { status, client, more: 0 });
    this.record(detail);
  }

  /** flush records the window's summaries and starts a new window. */
  flush(): void {
    this.record(undefined);
    const seconds = this.options.windowMs / 1000;
    for (const t of this.tallies.values()) {
      if (t.more > 0) this.record(`${t.more} more ${plural(t.status)} from ${t.client} (sampled: one record per client per ${seconds} s)`, t.more);
    }
    this.tallies.clear();
    for (const status of [401, 403, 429, 'busy'] as const) {
      if (this.overflow[status] > 0) this.record(`${this.overflow[status]} ${plural(status)} from clients beyond the ${this.options.maxClients} tracked (sampled: one record per ${seconds} s)`, this.overflow[status]);
      this.overflow[status] = 0;
    }
  }

  /** close stops the window timer and records what the last window held. */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }

  /**
   * record writes one record (`detail`, standing for `refusals`; undefined: only what waits), after a summary of
   * the refusals whose records the log refused (a full disk: EIO) since it last took one. A refusal is no effect, so
   * nothing waits for its record: thrown from the window's timer, that EIO ended agentd, and the first 401 in that
   * state answered 500 (an attacker pass).
   */
  private record(detail: string | undefined, refusals = 1): void {
    try {
      if (this.unwritten > 0) {
        this.options.log.record({ type: 'auth', pid: 0, agentId: 'agentd', detail: `${this.unwritten} refusals were not recorded (the decision log refused their records)` });
        this.unwritten = 0;
      }
      if (detail !== undefined) this.options.log.record({ type: 'auth', pid: 0, agentId: 'agentd', detail });
    } catch {
      if (detail !== undefined) this.unwritten += refusals;
    }
  }
}
