/**
 * sampleOf builds a request from one rule alone, without the solver: the
 * shortest text each of its globs accepts, its `equals` and `contains`
 * values, a moment inside its time window, and nothing it does not ask for
 * (no other labels, capabilities, path, tool or flows; access none; trust
 * 1000). Most rules of a real policy decide their own sample, which the
 * engine confirms; the solver is asked only about the others.
 */
import { isAgentId } from '../../capabilities.ts';
import { contains, parse, type CharSet, type Node } from '../glob-parse.ts';
import { WEEKDAYS, windowMinutes } from '../matchers.ts';
import { AGENT_PLACEHOLDER } from '../placeholders.ts';
import type { PolicyRule } from '../schema.ts';
import { regexSample } from './regex-smt.ts';
import { momentFor, type Witness } from './witness.ts';


function charOf(set: CharSet): string | undefined {
  for (const c of [120, 97, 48, 45, 95, 46]) if (contains(set, c)) return String.fromCharCode(c);
  for (let i = 0; i < set.ranges.length; i += 2) if (!set.negated && contains(set, set.ranges[i]!)) return String.fromCharCode(set.ranges[i]!);
  return undefined;
}

function shortest(node: Node): string | undefined {
  switch (node.k) {
    case 'chr':
      return charOf(node.set);
    case 'rep':
    case 'opt':
      return '';
    case 'alt':
      for (const item of node.items) {
        const s = shortest(item);
        if (s !== undefined) return s;
      }
      return undefined;
    case 'seq': {
      let out = '';
      for (const item of node.items) {
        const s = shortest(item);
        if (s === undefined) return undefined;
        out += s;
      }
      return out;
    }
  }
}

/**
 * loosened is an RE2 pattern less what the solver's reading of RE2 leaves out
 * but a sample can do without: leading flags (`(?i)`), word boundaries and
 * text anchors. A text it matches often matches the pattern too; the engine
 * says whether it does (a sample stands only once it matches its rule).
 */
function loosened(pattern: string): string {
  return pattern.replace(/^\(\?[imsU]+\)/, '').replace(/\\[bBAz]/g, '');
}

/** globSample is a short text the glob matches, or undefined. */
export function globSample(glob: string): string | undefined {
  try {
    return shortest(parse([glob]));
  } catch {
    return undefined;
  }
}

/** windowMoment is a moment inside a rule's time window (or noon on a Monday). */
function windowMoment(when: PolicyRule['when']): number | undefined {
  if (when === undefined) return momentFor(new Map());
  const day = when.days === undefined ? 0 : WEEKDAYS.indexOf(when.days[0]!);
  const minute = when.hours === undefined ? 720 : windowMinutes(when.hours)[0];
  return momentFor(new Map([[when.timezone ?? 'UTC', { day, minute: minute % 1440 }]]));
}

/** Sample is a request built from one rule, and which of its fields the rule constrains. */
export interface Sample {
  readonly witness: Witness;
  readonly fixed: ReadonlySet<Field>;
}

type Field = 'agent' | 'syscall' | 'access' | 'path' | 'tool' | 'lineage' | 'trust' | 'at';

/** sampleOf is a request the rule should match, built from its own fields, or undefined when a field has no simple sample. */
export function sampleOf(rule: PolicyRule): Sample | undefined {
  const pick = (globs: readonly string[] | undefined) => (globs === undefined ? undefined : globSample(globs[0]!));
  const agent = rule.agents === undefined ? 'agent-1' : pick(rule.agents);
  if (agent === undefined || !isAgentId(agent)) return undefined;
  const labels: Record<string, string> = {};
  for (const [key, glob] of Object.entries(rule.labels ?? {})) {
    const v = globSample(glob);
    if (v === undefined) return undefined;
    labels[key] = v;
  }
  const path = rule.paths === undefined ? undefined : globSample(rule.paths[0]!.replaceAll(AGENT_PLACEHOLDER, agent));
  if (rule.paths !== undefined && path === undefined) return undefined;
  const tool = pick(rule.tools);
  if (rule.tools !== undefined && tool === undefined) return undefined;
  const args: Record<string, string> = {};
  for (const p of rule.args ?? []) {
    const v = p.equals ?? p.contains ?? (p.glob !== undefined ? globSample(p.glob) : (regexSample(p.regex!) ?? regexSample(loosened(p.regex!))));
    if (v === undefined) return undefined;
    if (Object.hasOwn(args, p.arg) && args[p.arg] !== v) return undefined;
    args[p.arg] = v;
  }
  const at = windowMoment(rule.when);
  if (at === undefined) return undefined;
  const syscall = rule.syscalls?.find((s) => s !== '*') ?? 'SYS_READ';
  const fixed = new Set<Field>();
  if (rule.agents !== undefined || rule.paths?.some((g) => g.includes(AGENT_PLACEHOLDER)) === true) fixed.add('agent');
  if (rule.syscalls !== undefined && !rule.syscalls.includes('*')) fixed.add('syscall');
  if (rule.access !== undefined) fixed.add('access');
  if (rule.paths !== undefined) fixed.add('path');
  if (rule.tools !== undefined) fixed.add('tool');
  if (rule.lineage !== undefined) fixed.add('lineage');
  if (rule.trust !== undefined) fixed.add('trust');
  if (rule.when !== undefined) fixed.add('at');
  return {
    fixed,
    witness: {
      request: {
        agent,
        ...(Object.keys(labels).length > 0 ? { labels } : {}),
        ...(rule.capabilities !== undefined ? { capabilities: [...rule.capabilities] } : {}),
        syscall,
        access: rule.access?.[0] ?? 'none',
        ...(path !== undefined ? { path } : {}),
        ...(tool !== undefined ? { tool } : {}),
        ...(Object.keys(args).length > 0 ? { args } : {}),
        ...(rule.lineage?.[0] === 'child' ? { lineage: 'child' as const } : {}),
        ...(rule.trust !== undefined ? { trust: rule.trust.below - 1 } : {}),
      },
      at: new Date(at).toISOString(),
    },
  };
}

/**
 * merged is a request meant to match two rules: each field from the rule
 * that constrains it (`a`'s when both do), labels, capabilities and
 * arguments from both (an argument both name: `a`'s, or with `join` the two
 * texts one after the other, with it between, for a prefix and a `contains`). The engine
 * decides whether it matches both.
 */
export function merged(a: Sample, b: Sample, join?: '' | ' '): Witness {
  const ra = a.witness.request;
  const rb = b.witness.request;
  const from = (field: Field) => (a.fixed.has(field) || !b.fixed.has(field) ? ra : rb);
  const caps = [...new Set([...(ra.capabilities ?? []), ...(rb.capabilities ?? [])])];
  const labels = { ...rb.labels, ...ra.labels };
  const args: Record<string, unknown> = { ...rb.args, ...ra.args };
  if (join !== undefined) for (const key of Object.keys(ra.args ?? {})) if (rb.args !== undefined && Object.hasOwn(rb.args, key)) args[key] = `${String(ra.args![key])}${join}${String(rb.args[key])}`;
  const path = from('path').path;
  const tool = from('tool').tool;
  const lineage = from('lineage').lineage;
  const trust = from('trust').trust;
  return {
    request: {
      agent: from('agent').agent,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(caps.length > 0 ? { capabilities: caps } : {}),
      syscall: from('syscall').syscall,
      access: from('access').access ?? 'none',
      ...(path !== undefined ? { path } : {}),
      ...(tool !== undefined ? { tool } : {}),
      ...(Object.keys(args).length > 0 ? { args } : {}),
      ...(lineage !== undefined ? { lineage } : {}),
      ...(trust !== undefined ? { trust } : {}),
    },
    at: a.fixed.has('at') || !b.fixed.has('at') ? a.witness.at : b.witness.at,
  };
}
