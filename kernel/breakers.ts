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
 *
 * Tool names are the agent's to choose, so an agent has at most
 * MAX_PER_AGENT tool breakers (syscalls, a fixed set, each have their own).
 * A breaker with a failure inside its window, or open or half-open, is never
 * dropped to make room: that would let an agent wipe a tool's failures by
 * failing calls of made-up names. A tool call with no breaker of its own
 * and no room for one is counted on the agent's one overflow breaker, which,
 * while open or half-open, judges every such call (fail closed: a tool
 * crowded out is still held).
 */
import { SYSCALL_NUMBERS } from '../syscalls/table.ts';

export interface BreakerSettings {
  /** Failures within `windowMs` that open the breaker. */
  readonly failures: number;
  readonly windowMs: number;
  /** How long an open breaker refuses before it lets a trial call through. */
  readonly cooldownMs: number;
}

/** A breaker: closed (counting recent failures), open until a time, or half-open with its one trial call under way. */
type State = { kind: 'closed'; failures: number[] } | { kind: 'open'; until: number } | { kind: 'half-open'; trial: true; since: number };

/** The most tool breakers one agent has; past it a closed one whose failures have all left the window makes room, else the overflow breaker counts. */
export const MAX_PER_AGENT = 64;

/** OVERFLOW is the key the agent's overflow breaker is shown and recorded under (it is kept apart: a tool of that name is another breaker). */
export const OVERFLOW = '(overflow)';

/** An agent's breakers: its syscalls' and its tools' by key, and the one that counts for the tool calls that found no room. */
interface AgentBreakers {
  readonly syscalls: Map<string, State>;
  readonly tools: Map<string, State>;
  overflow?: State;
}

/** isSyscall: `key` names a syscall (a row of the table), not a tool. */
function isSyscall(key: string): boolean {
  return Object.hasOwn(SYSCALL_NUMBERS, key);
}

/** own is the map `key`'s own breaker is kept in. */
function own(mine: AgentBreakers, key: string): Map<string, State> {
  return isSyscall(key) ? mine.syscalls : mine.tools;
}

/** Where a call is judged and counted: its own breaker (`key`), or the agent's overflow breaker. */
interface Slot {
  readonly key: string;
  readonly overflow: boolean;
}

/** BreakerEvent is a breaker opening or closing, for the record. */
export interface BreakerEvent {
  readonly agentId: string;
  readonly key: string;
  readonly state: 'open' | 'closed';
  readonly why: string;
}

/**
 * The agents kept before the first sweep. A breaker is otherwise forgotten
 * only when its own agent calls again, and agentd's /v1/evaluate lets the
 * operator name any agent id: without sweeps one failure for each of many
 * ids would be kept for good.
 */
const SWEEP_FROM = 1024;

/** forgotten: a closed breaker whose failures have all left the window (it holds nothing back and counts nothing). */
function forgotten(state: State, now: number, settings: BreakerSettings): boolean {
  return state.kind === 'closed' && state.failures.every((t) => now - t >= settings.windowMs);
}

/** idle: a breaker a sweep may forget: forgotten, or open or half-open a whole window past its cool-down with no call since (its agent's next call is a fresh start). */
function idle(state: State, now: number, settings: BreakerSettings): boolean {
  if (state.kind === 'open') return now - state.until >= settings.windowMs;
  if (state.kind === 'half-open') return now - state.since >= settings.cooldownMs + settings.windowMs;
  return forgotten(state, now, settings);
}

export class Breakers {
  private readonly clock: () => number;
  private readonly settings: () => BreakerSettings | undefined;
  private readonly onChange: (event: BreakerEvent) => void;
  /** By agent, then by syscall or tool: a decision of an agent with no breaker pays one map lookup. */
  private readonly states = new Map<string, AgentBreakers>();
  /** Past this many agents, a failure first forgets every breaker that has forgotten its failures (sweep); so does the first failure a window after the last sweep, past SWEEP_FROM. */
  private sweepAt = SWEEP_FROM;
  private sweptAt = 0;

  constructor(settings: () => BreakerSettings | undefined, clock: () => number, onChange: (event: BreakerEvent) => void) {
    this.settings = settings;
    this.clock = clock;
    this.onChange = onChange;
  }

  /** judging is the breaker calls of `key` answer to now: their own, else for a tool the overflow breaker while it is open or half-open. */
  private judging(agentId: string, key: string): { slot: Slot; state: State } | undefined {
    const mine = this.states.get(agentId);
    if (mine === undefined) return undefined;
    const state = own(mine, key).get(key);
    if (state !== undefined) return { slot: { key, overflow: false }, state };
    if (mine.overflow !== undefined && mine.overflow.kind !== 'closed' && !isSyscall(key)) return { slot: { key, overflow: true }, state: mine.overflow };
    return undefined;
  }

  /** counting is where a failure of `key` counts: the breaker judging it, else a new one of its own if there is room, else the overflow breaker. */
  private counting(agentId: string, key: string, settings: BreakerSettings, now: number): { slot: Slot; state: State | undefined } {
    const judged = this.judging(agentId, key);
    if (judged !== undefined) return judged;
    const mine = this.states.get(agentId);
    if (mine === undefined || isSyscall(key) || mine.tools.size < MAX_PER_AGENT) return { slot: { key, overflow: false }, state: undefined };
    // Only a breaker that has forgotten everything may go: one with a failure in its window, or open, keeps its place.
    const stale = [...mine.tools].find(([, s]) => forgotten(s, now, settings));
    if (stale !== undefined) {
      mine.tools.delete(stale[0]);
      return { slot: { key, overflow: false }, state: undefined };
    }
    return { slot: { key, overflow: true }, state: mine.overflow };
  }

  private put(agentId: string, slot: Slot, state: State | undefined): void {
    let mine = this.states.get(agentId);
    if (mine === undefined) {
      if (state === undefined) return;
      this.states.set(agentId, (mine = { syscalls: new Map(), tools: new Map() }));
    }
    if (slot.overflow) mine.overflow = state;
    else if (state === undefined) own(mine, slot.key).delete(slot.key);
    else own(mine, slot.key).set(slot.key, state);
    if (mine.syscalls.size === 0 && mine.tools.size === 0 && mine.overflow === undefined) this.states.delete(agentId);
  }

  /** shown is the key a breaker is recorded and listed under. */
  private static shown(slot: Slot): string {
    return slot.overflow ? OVERFLOW : slot.key;
  }

  /** named is a breaker as a refusal names it: an overflow breaker says which call it held. */
  private static named(slot: Slot): string {
    return slot.overflow ? `${slot.key} (the overflow breaker: ${MAX_PER_AGENT} others of the agent's have recent failures)` : slot.key;
  }

  /**
   * refusal answers why a call of `key` by `agentId` is refused now, or
   * undefined to let it through: past the cool-down, as the one trial call
   * of the half-open breaker (with `trial` false, a question that runs
   * nothing, SYS_CHECKPOLICY, it does not take the trial).
   */
  refusal(agentId: string, key: string, trial = true): string | undefined {
    const judged = this.judging(agentId, key);
    if (judged === undefined) return undefined;
    const { slot, state } = judged;
    const now = this.clock();
    if (state.kind === 'closed') {
      // Failures that have all left the window are forgotten.
      const settings = this.settings();
      if (settings === undefined || forgotten(state, now, settings)) this.put(agentId, slot, undefined);
      return undefined;
    }
    if (state.kind === 'open') {
      if (now < state.until) return `circuit breaker for ${Breakers.named(slot)} is open after repeated failures: calls are refused for ${Math.ceil((state.until - now) / 1000)} s more`;
      if (trial) this.put(agentId, slot, { kind: 'half-open', trial: true, since: now });
      return undefined;
    }
    // A trial whose end was never reported (its call waited and was refused, canceled, or read-only) gives way to another after a cool-down.
    const settings = this.settings();
    if (settings !== undefined && now - state.since >= settings.cooldownMs) {
      if (trial) this.put(agentId, slot, { kind: 'half-open', trial: true, since: now });
      return undefined;
    }
    return `circuit breaker for ${Breakers.named(slot)} is half-open: one trial call is under way`;
  }

  /** succeeded notes a call that ran and succeeded: a half-open breaker closes. */
  succeeded(agentId: string, key: string): void {
    const judged = this.judging(agentId, key);
    if (judged?.state.kind === 'half-open') {
      this.put(agentId, judged.slot, undefined);
      this.onChange({ agentId, key: Breakers.shown(judged.slot), state: 'closed', why: 'the trial call succeeded' });
    }
  }

  /** failed notes a call that was denied or failed: enough of them open the breaker; a failed trial opens it again. */
  failed(agentId: string, key: string): void {
    const settings = this.settings();
    if (settings === undefined) return;
    const now = this.clock();
    if (this.states.size >= this.sweepAt || (this.states.size > SWEEP_FROM && now - this.sweptAt >= settings.windowMs)) this.sweep(now, settings);
    const { slot, state = { kind: 'closed', failures: [] } } = this.counting(agentId, key, settings, now);
    if (state.kind === 'open') return;
    const shown = Breakers.shown(slot);
    if (state.kind === 'half-open') {
      this.put(agentId, slot, { kind: 'open', until: now + settings.cooldownMs });
      this.onChange({ agentId, key: shown, state: 'open', why: `the trial call failed; refused for ${settings.cooldownMs} ms` });
      return;
    }
    const recent = state.failures.filter((t) => now - t < settings.windowMs);
    recent.push(now);
    if (recent.length < settings.failures) {
      this.put(agentId, slot, { kind: 'closed', failures: recent });
      return;
    }
    this.put(agentId, slot, { kind: 'open', until: now + settings.cooldownMs });
    const whose = slot.overflow ? ` of calls with no breaker of their own (${MAX_PER_AGENT} others have recent failures), ${key} last` : '';
    this.onChange({ agentId, key: shown, state: 'open', why: `${recent.length} failures within ${settings.windowMs} ms${whose}; refused for ${settings.cooldownMs} ms` });
  }

  /** kept is how many agents have breakers kept (open, half-open, or with recent failures, until a sweep). */
  get kept(): number {
    return this.states.size;
  }

  /** sweep forgets every idle breaker (forgotten, or open long past its cool-down with no call); the next waits for twice as many agents as are left, or a window (each failure pays a constant share, or one sweep a window). */
  private sweep(now: number, settings: BreakerSettings): void {
    // An open or half-open breaker forgotten is a breaker closed: recorded, so the log never leaves one open for good.
    const closed = (agentId: string, key: string, state: State) => {
      if (state.kind !== 'closed') this.onChange({ agentId, key, state: 'closed', why: `no call for ${settings.windowMs} ms past its cool-down: forgotten` });
    };
    for (const [agent, mine] of this.states) {
      for (const map of [mine.syscalls, mine.tools]) {
        for (const [key, state] of map) {
          if (!idle(state, now, settings)) continue;
          map.delete(key);
          closed(agent, key, state);
        }
      }
      if (mine.overflow !== undefined && idle(mine.overflow, now, settings)) {
        closed(agent, OVERFLOW, mine.overflow);
        mine.overflow = undefined;
      }
      if (mine.syscalls.size === 0 && mine.tools.size === 0 && mine.overflow === undefined) this.states.delete(agent);
    }
    this.sweepAt = Math.max(SWEEP_FROM, 2 * this.states.size);
    this.sweptAt = now;
  }

  /** open lists the open (or half-open) breakers of `agentId`, by key; every agent's when absent. */
  open(agentId?: string): { agentId: string; key: string; state: 'open' | 'half-open' }[] {
    const out: { agentId: string; key: string; state: 'open' | 'half-open' }[] = [];
    for (const [agent, mine] of this.states) {
      if (agentId !== undefined && agent !== agentId) continue;
      for (const [key, state] of [...mine.syscalls, ...mine.tools]) if (state.kind !== 'closed') out.push({ agentId: agent, key, state: state.kind });
      if (mine.overflow !== undefined && mine.overflow.kind !== 'closed') out.push({ agentId: agent, key: OVERFLOW, state: mine.overflow.kind });
    }
    return out;
  }
}
