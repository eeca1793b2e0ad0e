/**
 * Witnesses: a request (with the moment it is asked, the agent's trust and
 * tokens, and the rule limits used up by then) read off a solver model or
 * built from a rule itself, and decided by the real engine. Nothing the
 * analysis reports as a witness has not been decided this way.
 */
import { PolicyEngine } from '../engine.ts';
import type { LoadedPolicy } from '../load.ts';
import type { PolicyDecision } from '../request.ts';
import type { PolicyRequest } from '../../../abi/policy-request.ts';
import { requestOf, type RequestJson } from '../request-schema.ts';
import { STEP_BUDGET, withinBudget } from '../glob.ts';
import { localClock, MATCH_LIMIT } from '../matchers.ts';
import { ACCESS, VARS, type RequestModel } from './model.ts';

/** Witness is one concrete question to the policy. */
export interface Witness {
  /** The request, in the form `agentctl policy explain --request` reads. */
  readonly request: RequestJson & { lineage?: 'child'; trust?: number; tokens?: number };
  /** When it is asked (ISO time). */
  readonly at: string;
  /** The agent's counts by then, where they matter: `calls:ID` (calls rule ID let through), `minute:ID` (those within its rate window), … */
  readonly counts?: Readonly<Record<string, number>>;
}

/** A Monday, 00:00 UTC: local times are looked for in the weeks from here. */
const REFERENCE = Date.UTC(2026, 0, 5);
/** Weeks tried for a moment with the wanted local times (January, April, July, October: either side of summer time). */
const WEEKS = [0, 13, 26, 39];

/** Minutes tried around where the first zone's wanted time falls in UTC, nearest first, by quarter hours (made once). */
const SHIFTS = [0, ...Array.from({ length: 2 * 28 * 60 }, (_, i) => (i % 2 === 0 ? 1 : -1) * (Math.floor(i / 2) + 1) * 15)];

const clocks = new Map<string, (at: number) => number>();
/** localTime is a zone's minute of the week at an instant (matchers.ts localClock, one per zone). */
function localTime(zone: string, at: number): number {
  let clock = clocks.get(zone);
  if (clock === undefined) clocks.set(zone, (clock = localClock(zone)));
  return clock(at);
}

/** momentFor finds a time at which each zone's local (weekday, minute) is the wanted one, or undefined. */
export function momentFor(wanted: ReadonlyMap<string, { day: number; minute: number }>): number | undefined {
  if (wanted.size === 0) return REFERENCE + 12 * 3_600_000;
  const [first, want] = [...wanted][0]!;
  for (const week of WEEKS) {
    // Start where the first zone's wanted time falls (its offset is within a day of UTC), then try the minutes around it.
    const start = REFERENCE + week * 7 * 86_400_000 + (want.day * 1440 + want.minute) * 60_000;
    for (const shift of SHIFTS) {
      const at = start + shift * 60_000;
      if (localTime(first, at) !== want.day * 1440 + want.minute) continue;
      if ([...wanted].every(([zone, w]) => localTime(zone, at) === w.day * 1440 + w.minute)) return at;
    }
  }
  return undefined;
}

/** witnessOf reads a witness off a model's values (undefined when no moment has the local times the model chose). */
export function witnessOf(model: RequestModel, values: ReadonlyMap<string, string | number | boolean>): Witness | undefined {
  const str = (name: string) => String(values.get(name) ?? '');
  const bool = (name: string) => values.get(name) === true;
  const num = (name: string) => Number(values.get(name) ?? 0);
  // Keyed by names the policy chose (`__proto__` too, which the engine matches as an own key): no prototype.
  const labels = Object.create(null) as Record<string, string>;
  for (const [key, i] of model.labels) if (bool(`v_l${i}_p`)) labels[key] = str(`v_l${i}`);
  const capabilities = [...model.caps].filter(([, i]) => bool(`v_c${i}`)).map(([name]) => name);
  const args = Object.create(null) as Record<string, string>;
  for (const [name, i] of model.args) {
    if (!bool(`v_a${i}_p`)) continue;
    const text = str(`v_a${i}`);
    // The model chose "longer than MATCH_LIMIT" for it: it is made so (its head kept).
    args[name] = bool(`v_a${i}_o`) && text.length <= MATCH_LIMIT ? text + '~'.repeat(MATCH_LIMIT + 1 - text.length) : text;
  }
  const wanted = new Map<string, { day: number; minute: number }>();
  for (const [zone, i] of model.zones) wanted.set(zone, { day: num(`v_z${i}_d`), minute: num(`v_z${i}_m`) });
  const at = momentFor(wanted);
  if (at === undefined) return undefined;
  const counts = Object.fromEntries([...model.counts].map(([key, i]) => [key, num(`v_n${i}`)]).filter(([, n]) => n !== 0));
  const trust = num(VARS.trust);
  const tokens = num(VARS.tokens);
  return {
    request: {
      agent: str(VARS.agent),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(capabilities.length > 0 ? { capabilities } : {}),
      syscall: str(VARS.sys),
      access: ACCESS[num(VARS.access)] ?? 'none',
      ...(bool(VARS.pathP) ? { path: str(VARS.path) } : {}),
      ...(bool(VARS.toolP) ? { tool: str(VARS.tool) } : {}),
      ...(Object.keys(args).length > 0 ? { args } : {}),
      ...(bool(VARS.flow) ? { flows: ['vfs-to-exec'] } : {}),
      ...(bool(VARS.child) ? { lineage: 'child' as const } : {}),
      ...(trust !== 1000 ? { trust } : {}),
      ...(tokens !== 0 ? { tokens } : {}),
    },
    at: new Date(at).toISOString(),
    ...(Object.keys(counts).length > 0 ? { counts } : {}),
  };
}

/** policyRequestOf is a witness's request as the engine reads it: the request's own fields, its lineage and trust. */
export function policyRequestOf(w: Witness): PolicyRequest {
  return { ...requestOf(w.request), lineage: w.request.lineage ?? 'root', trust: w.request.trust ?? 1000 };
}

/** decideWitness asks the real engine: a fresh one at the witness's moment, with its counts and tokens set. */
export function decideWitness(policy: LoadedPolicy, w: Witness): PolicyDecision {
  const at = Date.parse(w.at);
  const engine = new PolicyEngine(policy, () => at);
  const request = policyRequestOf(w);
  if (w.counts !== undefined) {
    for (const { id, limits } of policy.compiled.rules) {
      if (limits === undefined) continue;
      const calls = w.counts[`calls:${id}`] ?? 0;
      const recent = limits.rate === undefined ? 0 : (w.counts[`${limits.rate.per}:${id}`] ?? 0);
      if (calls > 0 || recent > 0) engine.counters.setCounts(id, request.agentId, limits, calls, recent, at);
    }
  }
  engine.counters.setTokens(request.agentId, w.request.tokens ?? 0);
  return engine.check(request);
}

/** matchesRule says whether the engine's compiled rule (by its index) matches the witness: its syscalls (the engine's index filters by them), then its conditions. */
export function matchesRule(policy: LoadedPolicy, order: number, w: Witness): boolean {
  const rule = policy.compiled.rules[order]!;
  const syscalls = rule.rule.syscalls;
  if (syscalls !== undefined && !syscalls.includes('*') && !syscalls.includes(w.request.syscall)) return false;
  const at = Date.parse(w.at);
  const request = policyRequestOf(w);
  try {
    return withinBudget(STEP_BUDGET, () => rule.conditions.every((c) => c.test(request, at)));
  } catch {
    return false;
  }
}
