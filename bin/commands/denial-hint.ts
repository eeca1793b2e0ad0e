/**
 * When `agentctl run` ends on a denied call, one line says everything that
 * would let that call through. Capabilities are checked before the policy,
 * so a call without its capability never reaches the policy: a newcomer
 * adds `tool:x` to the manifest only to be refused again by the policy.
 * The hint asks the policy engine as if the capability were held, and names
 * both the capability and the rule the policy still needs.
 */
import { observed } from '../../kernel/recorder/observed.ts';
import type { PolicyEngine } from '../../kernel/policy/engine.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { ExitRecord } from '../../kernel/process.ts';
import type { DecisionRecorder, SyscallRecord } from '../../syscalls/records.ts';
import { DEFAULT_POLICY_FILE } from '../../kernel/policy/default.ts';
import { shown } from '../../kernel/program-build.ts';

/** DenialWatch is a recorder that remembers each process's last denied syscall. */
export interface DenialWatch {
  readonly recorder: DecisionRecorder;
  /** lastDenied is the last syscall `pid` was denied, if any. */
  lastDenied(pid: number): SyscallRecord | undefined;
}

/** watchDenials wraps `inner`: every record goes to it unchanged, and denied syscalls are remembered per pid. */
export function watchDenials(inner: DecisionRecorder): DenialWatch {
  const denied = new Map<number, SyscallRecord>();
  const recorder = observed(inner, (entry) => {
    if (entry.type === 'syscall' && entry.effect === 'deny') denied.set(entry.pid, entry);
  });
  return { recorder, lastDenied: (pid) => denied.get(pid) };
}

/** Who the agent is, as its manifest says. */
export interface HintIdentity {
  readonly agentId: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly capabilities?: readonly string[];
}

/** endedByDenial says whether `exit` is the process dying of `denied`: its uncaught SyscallError, or the SIGPOLICY its rule sent. */
export function endedByDenial(exit: ExitRecord, denied: SyscallRecord | undefined): denied is SyscallRecord {
  if (denied === undefined) return false;
  const said = `${denied.syscall} denied by ${denied.rule}`;
  if (exit.reason.kind === 'error') return exit.reason.error.includes(`${said}: ${denied.reason}`);
  return exit.reason.kind === 'signal' && exit.reason.signal === 'SIGPOLICY' && exit.reason.why.includes(said);
}

function toolOf(denied: SyscallRecord): string | undefined {
  const tool = denied.args?.tool;
  return denied.syscall === 'SYS_EXEC' && typeof tool === 'string' ? tool : undefined;
}

/** The tool's own arguments, as the policy sees them (see syscalls/dispatch.ts requestFor). */
function toolArgs(denied: SyscallRecord): Readonly<Record<string, unknown>> {
  const args = denied.args?.args;
  if (args !== null && typeof args === 'object' && !Array.isArray(args)) return args as Record<string, unknown>;
  return args === null || args === undefined ? {} : { args };
}

/** exampleRule is a policy rule, in YAML flow style, that allows `denied`. */
function exampleRule(denied: SyscallRecord, tool: string | undefined): string {
  const what = tool ?? denied.path?.split('/').filter(Boolean).slice(-1)[0] ?? denied.syscall.toLowerCase();
  const id = `allow-${what}`.replace(/[^A-Za-z0-9._:-]+/g, '-').slice(0, 64);
  const on = tool !== undefined ? `, tools: [${tool}]` : denied.path !== undefined ? `, paths: ["${denied.path}"]` : '';
  return `{ id: ${id}, effect: allow, syscalls: [${denied.syscall}]${on} }`;
}

/**
 * denialHint is one line on what would let `denied` through — the
 * capability to add to the manifest and the rule the policy needs (asked of
 * `engine` as if that capability were held) — or undefined when neither a
 * manifest nor a policy can (the kernel's own rules, limits).
 */
export function denialHint(denied: SyscallRecord, identity: HintIdentity, engine: PolicyEngine, options: { readonly policyGiven: boolean }): string | undefined {
  if (denied.rule.startsWith('kernel.')) return `${denied.rule} is the kernel's own rule: no manifest or policy lets this call through`;
  if (denied.rule.startsWith('limit.') || denied.rule.startsWith('flow:')) return undefined;
  const tool = toolOf(denied);
  const held = new Set(identity.capabilities ?? []);
  let capability: string | undefined;
  if (denied.rule === 'capability') {
    if (tool === undefined) {
      return denied.path === undefined ? undefined : `${denied.path} lies outside the agent's tree /agent/${denied.agentId}, and agentctl run mounts nothing else`;
    }
    capability = `tool:${tool}`;
    held.add(capability);
  }
  const request: PolicyRequest = {
    agentId: denied.agentId,
    labels: identity.labels ?? {},
    capabilities: held,
    lineage: 'root',
    syscall: denied.syscall,
    access: denied.access,
    ...(denied.path !== undefined ? { path: denied.path } : {}),
    ...(tool !== undefined ? { tool, args: toolArgs(denied) } : denied.args !== undefined ? { args: denied.args } : {}),
  };
  const verdict = engine.check(request);
  const call = tool !== undefined ? `tool ${tool}` : denied.path !== undefined ? `${denied.syscall} on ${denied.path}` : denied.syscall;
  // What to add (capability, rule), and what else to do (a rule that denies, an approval).
  const add: string[] = capability === undefined ? [] : [`capability '${capability}' to the manifest (--manifest)`];
  let other: string | undefined;
  if (verdict.effect === 'require_approval') other = `approve it when rule ${verdict.rule} asks (--approve prompt or allow)`;
  else if (verdict.effect === 'deny' && verdict.rule === 'default-deny') {
    const start = options.policyGiven ? '' : ` (start from ${shown(DEFAULT_POLICY_FILE)}, the built-in default, which allows no tools)`;
    add.push(`a rule allowing ${call} to the policy (--policy), e.g. ${exampleRule(denied, tool)}${start}`);
  } else if (verdict.effect === 'deny') {
    const why = verdict.reason === `denied by rule ${verdict.rule}` ? '' : ` (${verdict.reason})`;
    other = `change the policy's rule ${verdict.rule}, which denies it${why} (--policy)`;
  }
  const steps = [...(add.length > 0 ? [`add ${add.join(' and ')}`] : []), ...(other !== undefined ? [other] : [])];
  if (steps.length === 0) return undefined;
  return `to allow this call ${steps.join(', and ')}${verdict.effect === 'allow' ? '; the policy already allows it' : ''}`;
}

/** What http.fetch's refusal of an address says (kernel/tools/address-guard.ts), up to the address it names. */
const ADDRESS_REFUSED = /http\.fetch: refused to connect to (?:[^\s()]+ \()?\[?([0-9A-Fa-f.:]+)\]?\)?: [^\n]*; allow it with tools\.builtin\.http\.fetch\.allow_addresses/;

/**
 * addressHint is what to do when `exit` is the program's uncaught error that
 * http.fetch refused an address (loopback, private…): that setting lives in
 * a tools file, which `agentctl run` takes as `--tools FILE` (`toolsFile`,
 * when one was given), with the two lines of YAML that allow the address.
 * Undefined for any other end.
 */
export function addressHint(exit: ExitRecord, toolsFile: string | undefined): string | undefined {
  if (exit.reason.kind !== 'error') return undefined;
  const address = ADDRESS_REFUSED.exec(exit.reason.error)?.[1];
  if (address === undefined) return undefined;
  const where = toolsFile === undefined ? 'a tools file given as --tools FILE' : `the tools file ${toolsFile} (--tools)`;
  return `to let fetch connect to ${address}, list it in ${where}, e.g.:\n  tools:\n    builtin: { http.fetch: { allow_addresses: ["${address}"] } }`;
}
