/**
 * The benchmark's rule set (bench/policy-set.ts) translated for two peers,
 * rule for rule, and their answers mapped back onto allow / deny /
 * require_approval and a rule id, so the equivalence check can compare them.
 *
 * Cedar (@cedar-policy/cedar-wasm): one policy per rule with the rule's id;
 * allow → permit, deny → forbid, require_approval → a permit whose id is
 * listed as an approval rule (Cedar only answers allow or deny). Labels are
 * principal attributes; a VFS path is a File entity with its path and, in an
 * agent tree, its owner (what the VFS knows about the file), so
 * `/agent/${agent}/mem/a/**` becomes `resource.owner == principal &&
 * resource.path like "/agent/*\/mem/a/*"`. Argument globs become `like`, the
 * RE2 program patterns an equality or a `like` per subcommand. Policies are
 * preparsed once (preparsePolicySet); each request is a
 * statefulIsAuthorized call whose entities (caller, resource) are built
 * before timing, as our PolicyRequests are.
 *
 * AGT (@microsoft/agent-governance-sdk PolicyEngine.evaluatePolicy): one rule
 * per rule with deny-overrides and priorities deny 2 > approval 1 > allow 0
 * (stable among equals, so the first matching rule in policy order wins, as
 * in ours). Its condition language has ==, in, and/or but no glob, substring
 * or regex, so paths, URLs and commands are split into facets by an
 * extractor registered on its FacetRegistry (AGT's own extension point; it
 * runs inside evaluatePolicy, so it is timed): tree, own, area, scheme, host,
 * program, sub.
 */
import { ConflictResolutionStrategy, defaultRegistry, PolicyEngine as AgtEngine, type Policy as AgtPolicy, type PolicyRule as AgtRule } from '@microsoft/agent-governance-sdk';
import { preparsePolicySet, statefulIsAuthorized, type CedarValueJson, type EntityJson, type StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { Effect, RequestSpec, RuleSpec } from './policy-set.ts';

/** Outcome is an engine's answer in common terms. */
export interface Outcome {
  readonly effect: Effect;
  /** The deciding rule ids (Cedar may name several), or [] for default deny. */
  readonly rules: readonly string[];
}

const q = (s: string): string => JSON.stringify(s);
const list = (xs: readonly string[], f: (x: string) => string): string => xs.map(f).join(', ');

function cedarProgram(s: RuleSpec): string {
  const cmd = 'context.args.cmd';
  const words = s.subs ? s.subs.map((sub) => `${s.program} ${sub}`) : [s.program!];
  return `context.args has cmd && (${words.map((w) => `${cmd} == ${q(w)} || ${cmd} like ${q(`${w} *`)}`).join(' || ')})`;
}

/** cedarPolicy writes one rule as Cedar policy text. */
export function cedarPolicy(s: RuleSpec): string {
  const effect = s.effect === 'deny' ? 'forbid' : 'permit';
  const action = s.syscalls ? `action in [${list(s.syscalls, (n) => `Action::${q(n)}`)}]` : 'action';
  const fileRule = s.ownArea !== undefined || s.sharedArea !== undefined;
  const single = s.tools?.length === 1 ? s.tools[0] : undefined;
  const resource = fileRule ? 'resource is File' : single !== undefined ? `resource == Tool::${q(single)}` : s.tools ? 'resource is Tool' : 'resource';
  const when: string[] = [];
  if (s.tools && single === undefined) when.push(`[${list(s.tools, (t) => `Tool::${q(t)}`)}].contains(resource)`);
  if (s.access) when.push(s.access.length === 1 ? `context.access == ${q(s.access[0]!)}` : `[${list(s.access, q)}].contains(context.access)`);
  if (s.team) when.push(`principal has team && principal.team == ${q(s.team)}`);
  if (s.quarantine) when.push(`principal has quarantine && principal.quarantine == ${q(s.quarantine)}`);
  if (s.ownArea) when.push(`resource has owner && resource.owner == principal && resource.path like ${q(`/agent/*/mem/${s.ownArea}/*`)}`);
  if (s.sharedArea) when.push(`resource.path like ${q(`/shared/data/${s.sharedArea}/*`)}`);
  if (s.host) when.push(`context.args has url && context.args.url like ${q(`https://${s.host}/*`)}`);
  if (s.method) when.push(`context.args has method && context.args.method == ${q(s.method)}`);
  if (s.program) when.push(cedarProgram(s));
  return `${effect} (principal, ${action}, ${resource})${when.length > 0 ? ` when { ${when.join(' && ')} }` : ''};`;
}

export class CedarPeer {
  private static sets = 0;
  private readonly id = `bench-${CedarPeer.sets++}`;
  private readonly approval: ReadonlySet<string>;
  errors = 0;

  constructor(specs: readonly RuleSpec[]) {
    this.approval = new Set(specs.filter((s) => s.effect === 'require_approval').map((s) => s.id));
    const answer = preparsePolicySet(this.id, { staticPolicies: Object.fromEntries(specs.map((s) => [s.id, cedarPolicy(s)])) });
    if (answer.type !== 'success') throw new Error(`cedar: ${answer.errors.map((e) => e.message).join('; ')}`);
  }

  /** call builds the statefulIsAuthorized argument for a request (entities included). */
  call(r: RequestSpec): StatefulAuthorizationCall {
    const principal = { type: 'Agent', id: r.agent };
    const attrs = { team: r.team, ...(r.quarantine ? { quarantine: r.quarantine } : {}) };
    const entities: EntityJson[] = [{ uid: principal, attrs, parents: [] }];
    let resource = { type: 'Process', id: r.agent };
    if (r.path !== undefined) {
      const seg = r.path.split('/');
      resource = { type: 'File', id: r.path };
      const owner: Record<string, CedarValueJson> = seg[1] === 'agent' ? { owner: { __entity: { type: 'Agent', id: seg[2]! } } } : {};
      entities.push({ uid: resource, attrs: { path: r.path, ...owner }, parents: [] });
    } else if (r.tool !== undefined) {
      resource = { type: 'Tool', id: r.tool };
      entities.push({ uid: resource, attrs: {}, parents: [] });
    }
    const context = { access: r.access, args: { ...r.args } };
    return { principal, action: { type: 'Action', id: r.syscall }, resource, context, preparsedPolicySetId: this.id, entities };
  }

  decide(call: StatefulAuthorizationCall): Outcome {
    const answer = statefulIsAuthorized(call);
    if (answer.type !== 'success') throw new Error(`cedar: ${answer.errors.map((e) => e.message).join('; ')}`);
    const { decision, diagnostics } = answer.response;
    this.errors += diagnostics.errors.length;
    const rules = diagnostics.reason;
    if (decision === 'deny') return { effect: 'deny', rules };
    return { effect: rules.some((id) => this.approval.has(id)) ? 'require_approval' : 'allow', rules };
  }
}

const strs = (xs: readonly string[]): string => `[${list(xs, (x) => `'${x}'`)}]`;

function agtCondition(s: RuleSpec): string {
  const parts: string[] = [];
  if (s.syscalls) parts.push(`syscall in ${strs(s.syscalls)}`);
  if (s.access) parts.push(`access in ${strs(s.access)}`);
  if (s.team) parts.push(`labels.team == '${s.team}'`);
  if (s.quarantine) parts.push(`labels.quarantine == '${s.quarantine}'`);
  if (s.ownArea) parts.push(`req.own == true and req.area == 'mem/${s.ownArea}'`);
  if (s.sharedArea) parts.push(`req.tree == 'shared' and req.area == 'data/${s.sharedArea}'`);
  if (s.tools) parts.push(`tool in ${strs(s.tools)}`);
  if (s.host) parts.push(`req.scheme == 'https' and req.host == '${s.host}'`);
  if (s.method) parts.push(`req.method == '${s.method}'`);
  if (s.program) parts.push(`req.program == '${s.program}'${s.subs ? ` and req.sub in ${strs(s.subs)}` : ''}`);
  return parts.join(' and ');
}

/** agtFacets splits the request's path, url and command into the fields AGT conditions compare. */
function agtFacets(req: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof req.path === 'string') {
    const seg = req.path.split('/');
    const inTree = seg[1] === 'agent';
    out.tree = inTree ? seg[2] : seg[1];
    out.own = inTree && seg[2] === req.agent;
    out.area = inTree ? `${seg[3]}/${seg[4]}` : `${seg[2]}/${seg[3]}`;
  }
  if (typeof req.url === 'string') {
    const m = /^([a-z]+):\/\/([^/]+)/.exec(req.url);
    out.scheme = m?.[1] ?? '';
    out.host = m?.[2] ?? '';
  }
  if (typeof req.cmd === 'string') {
    const words = req.cmd.split(' ');
    out.program = words[0];
    out.sub = words[1] ?? '';
  }
  return out;
}

let facetsRegistered = false;

export class AgtPeer {
  readonly engine = new AgtEngine(undefined, ConflictResolutionStrategy.DenyOverrides);

  constructor(specs: readonly RuleSpec[]) {
    if (!facetsRegistered) defaultRegistry.register('req', agtFacets);
    facetsRegistered = true;
    const priority = { deny: 2, require_approval: 1, allow: 0 } as const;
    const rules = specs.map((s): AgtRule => ({ name: s.id, condition: agtCondition(s), ruleAction: s.effect, priority: priority[s.effect] }));
    const policy: AgtPolicy = { apiVersion: 'governance.toolkit/v1', name: 'bench-1000', scope: 'global', rules, default_action: 'deny' };
    this.engine.loadPolicy(policy);
  }

  /** context is the evaluatePolicy context for a request. */
  context(r: RequestSpec): Record<string, unknown> {
    return {
      syscall: r.syscall,
      access: r.access,
      ...(r.tool !== undefined ? { tool: r.tool } : {}),
      labels: { team: r.team, ...(r.quarantine ? { quarantine: r.quarantine } : {}) },
      req: { agent: r.agent, ...(r.path !== undefined ? { path: r.path } : {}), ...r.args },
    };
  }

  decide(agent: string, context: Record<string, unknown>): Outcome {
    const result = this.engine.evaluatePolicy(agent, context);
    const effect = result.action === 'allow' || result.action === 'require_approval' ? result.action : 'deny';
    return { effect, rules: result.matchedRule === undefined ? [] : [result.matchedRule] };
  }
}
