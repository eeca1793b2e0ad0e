/**
 * Circuit breakers, one per agent and tool (or syscall, for a call that is
 * not a tool call): when calls keep failing — denied, or run and failed with
 * an errno — the breaker opens and the kernel refuses that agent's calls of
 * that tool at once (rule `kernel.breaker`, before the policy is asked),
 * rather than let a confused or hostile agent hammer it. After the
 * cool-down it is half-open: one trial call goes through; if it succeeds the
 * breaker closes, if it fails it opens again. Settings come from the
 * policy's `defaults.breaker: { failures, window_ms, cooldown_ms }` (none:
 * no breakers), on the kernel's clock. Opening and closing are recorded
 * (`limit` records) and cost the agent trust; `ps` and `/metrics` show the
 * open ones. Only breakers with failures are kept.
 */

export interface BreakerSettings {
  /** Failures within `windowMs` that open the breaker. */
  readonly failures: number;
  readonly windowMs: number;
  /** How long an open breaker refuses before it lets a trial call through. */
  readonly cooldownMs: number;
}

/** A breaker: closed (counting recent failures), open until a time, or half-open with its one trial call under way. */
type State = { kind: 'closed'; failures: number[] } | { kind: 'open'; until: number } | { kind: 'half-open'; trial: true; since: number };

/** The most breakers one agent has (tool names are the agent's to choose): past it a new one is not kept, the oldest closed one goes first. */
const MAX_PER_AGENT = 64;

/** BreakerEvent is a breaker opening or closing, for the record. */
export interface BreakerEvent {
  readonly agentId: string;
  readonly key: string;
  readonly state: 'open' | 'closed';
  readonly why: string;
}

export class Breakers {
  private readonly clock: () => number;
  private readonly settings: () => BreakerSettings | undefined;
  private readonly onChange: (event: BreakerEvent) => void;
  /** By agent, then by tool: a decision of an agent with no breaker pays one map lookup. */
  private readonly states = new Map<string, Map<string, State>>();

  constructor(settings: () => BreakerSettings | undefined, clock: () => number, onChange: (event: BreakerEvent) => void) {
    this.settings = settings;
    this.clock = clock;
    this.onChange = onChange;
  }

  private get(agentId: string, key: string): State | undefined {
    return this.states.get(agentId)?.get(key);
  }

  private put(agentId: string, key: string, state: State | undefined): void {
    let mine = this.states.get(agentId);
    if (state === undefined) {
      mine?.delete(key);
      if (mine?.size === 0) this.states.delete(agentId);
      return;
    }
    if (mine === undefined) this.states.set(agentId, (mine = new Map()));
    if (!mine.has(key) && mine.size >= MAX_PER_AGENT) {
      const closed = [...mine].find(([, s]) => s.kind === 'closed');
      if (closed === undefined) return;
      mine.delete(closed[0]);
    }
    mine.set(key, state);
  }

  /**
   * refusal answers why a call of `key` by `agentId` is refused now, or
   * undefined to let it through: past the cool-down, as the one trial call
   * of the half-open breaker (with `trial` false, a question that runs
   * nothing, SYS_CHECKPOLICY, it does not take the trial).
   */
  refusal(agentId: string, key: string, trial = true): string | undefined {
    const state = this.get(agentId, key);
    if (state === undefined) return undefined;
    const now = this.clock();
    if (state.kind === 'closed') {
      // Failures that have all left the window are forgotten.
      const settings = this.settings();
      if (settings === undefined || state.failures.every((t) => now - t >= settings.windowMs)) this.put(agentId, key, undefined);
      return undefined;
    }
    if (state.kind === 'open') {
      if (now < state.until) return `circuit breaker for ${key} is open after repeated failures: calls are refused for ${Math.ceil((state.until - now) / 1000)} s more`;
      if (trial) this.put(agentId, key, { kind: 'half-open', trial: true, since: now });
      return undefined;
    }
    // A trial whose end was never reported (its call waited and was refused, canceled, or read-only) gives way to another after a cool-down.
    const settings = this.settings();
    if (settings !== undefined && now - state.since >= settings.cooldownMs) {
      if (trial) this.put(agentId, key, { kind: 'half-open', trial: true, since: now });
      return undefined;
    }
    return `circuit breaker for ${key} is half-open: one trial call is under way`;
  }

  /** succeeded notes a call that ran and succeeded: a half-open breaker closes. */
  succeeded(agentId: string, key: string): void {
    const state = this.get(agentId, key);
    if (state === undefined) return;
    if (state.kind === 'half-open') {
      this.put(agentId, key, undefined);
      this.onChange({ agentId, key, state: 'closed', why: 'the trial call succeeded' });
    }
  }

  /** failed notes a call that was denied or failed: enough of them open the breaker; a failed trial opens it again. */
  failed(agentId: string, key: string): void {
    const settings = this.settings();
    if (settings === undefined) return;
    const now = this.clock();
    const state = this.get(agentId, key) ?? { kind: 'closed', failures: [] };
    if (state.kind === 'open') return;
    if (state.kind === 'half-open') {
      this.put(agentId, key, { kind: 'open', until: now + settings.cooldownMs });
      this.onChange({ agentId, key, state: 'open', why: `the trial call failed; refused for ${settings.cooldownMs} ms` });
      return;
    }
    const recent = state.failures.filter((t) => now - t < settings.windowMs);
    recent.push(now);
    if (recent.length < settings.failures) {
      this.put(agentId, key, { kind: 'closed', failures: recent });
      return;
    }
    this.put(agentId, key, { kind: 'open', until: now + settings.cooldownMs });
    this.onChange({ agentId, key, state: 'open', why: `${recent.length} failures within ${settings.windowMs} ms; refused for ${settings.cooldownMs} ms` });
  }

  /** open lists the open (or half-open) breakers of `agentId`, by key; every agent's when absent. */
  open(agentId?: string): { agentId: string; key: string; state: 'open' | 'half-open' }[] {
    const out: { agentId: string; key: string; state: 'open' | 'half-open' }[] = [];
    for (const [agent, mine] of this.states) {
      if (agentId !== undefined && agent !== agentId) continue;
      for (const [key, state] of mine) if (state.kind !== 'closed') out.push({ agentId: agent, key, state: state.kind });
    }
    return out;
  }
}
