/**
 * Intent contracts: per syscall or tool, conditions written in CEL
 * (@marcbachmann/cel-js) that the kernel checks in ring 0.
 *
 *   contracts:
 *     - id: small-payments
 *       syscalls: [SYS_EXEC]
 *       tools: [payment.send]
 *       pre: ["request.args.amount <= 500"]        # else: deny, before the policy is asked
 *       post: ["result.value.status == 'sent'"]    # after a call that succeeded; else: on_failure
 *       invariants: ["counters.calls <= 20"]       # after every call that ran; else: on_failure
 *       on_failure: SIGPOLICY                      # the default
 *
 * Variables: `request` (syscall, access, path, tool, args), `agent` (id,
 * labels, capabilities, trust, lineage), `counters` (calls and failures of
 * this contract's calls by the agent that ran — this one included after it
 * ran —, and the agent's LLM tokens) and, for post and invariants,
 * `result` (ok, errno, value). An expression must come to a bool: anything
 * else, or an error (a missing key, an operator on the wrong types), counts
 * as failed — fail closed. CEL's `==`, `!=` and `in` compare values of
 * different types without an error (a list is simply not equal to a
 * string), so a contract on an argument an agent may send in another shape
 * checks its type: `type(request.args.host) == string && …`. Every expression is compiled once, when the policy loads,
 * and refused there (naming file, line and field) if it does not parse or
 * type-check, exceeds the structural limits (CEL_LIMITS), nests one
 * comprehension in another, uses `matches` (a JavaScript regex, not RE2:
 * use the rules' `args` regex) or `cel.bind` (which lets a short
 * expression grow a value exponentially). The arguments a contract reads are
 * bounded too, since an expression's cost grows with them (a comprehension
 * over a list calling `contains` on a long string): a call whose arguments
 * hold more than MAX_ARG_VALUES values, or a string longer than
 * MAX_ARG_CHARS, fails its contract's pre-condition instead of being read.
 */
import { Environment, type ASTNode, type ParseResult } from '@marcbachmann/cel-js';
import { anyGlob, isLiteral } from './matchers.ts';
import { guarded, PolicyFieldError } from './field-error.ts';
import { listIn } from './rule-index.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { Contract, ViolationSignal } from './schema.ts';

/** Structural limits on one expression, checked by the parser. */
export const CEL_LIMITS = { maxAstNodes: 128, maxDepth: 24, maxListElements: 64, maxMapEntries: 64, maxCallArguments: 8 } as const;
/** How many values (scalars, list items, map entries) a contract may read in a call's arguments. */
export const MAX_ARG_VALUES = 10_000;
/** The longest string a contract may read in a call's arguments (or result). */
export const MAX_ARG_CHARS = 8192;

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

const environment = new Environment({ limits: CEL_LIMITS, homogeneousAggregateLiterals: false })
  .registerVariable('request', 'map')
  .registerVariable('agent', 'map')
  .registerVariable('counters', 'map')
  .registerVariable('result', 'map');

/** ContractPhase says when an expression is checked. */
export type ContractPhase = 'pre' | 'post' | 'invariants';

interface Expression {
  readonly source: string;
  readonly run: ParseResult;
}

export interface CompiledContract {
  readonly id: string;
  /** Its place in the document. */
  readonly order: number;
  readonly pre: readonly Expression[];
  readonly post: readonly Expression[];
  readonly invariants: readonly Expression[];
  readonly signal: ViolationSignal;
  /** The call's arguments its pre-conditions read: by name, or all (an expression reads `request.args` or `request` as a whole). */
  readonly preArgs: 'all' | ReadonlySet<string>;
  /** covers says whether the contract applies to a call of `syscall` (and `tool`). */
  readonly covers: (syscall: string, tool: string | undefined) => boolean;
}

/** ContractFailure is one contract that did not hold: which, when, which expression, and why. */
export interface ContractFailure {
  readonly contract: string;
  readonly phase: ContractPhase;
  readonly expression: string;
  readonly why: string;
  readonly signal: ViolationSignal;
}

/** CallResult is what a call came to, as `result` in post-conditions and invariants. */
export interface CallResult {
  readonly ok: boolean;
  readonly errno?: string;
  readonly value?: unknown;
}

/** problemIn finds what the kernel refuses in an expression's tree: a comprehension inside another, or `matches`. */
function problemIn(node: ASTNode, inComprehension: boolean): string | undefined {
  if (node.op === 'call' || node.op === 'rcall') {
    const name = node.args[0] as string;
    if (name === 'matches') return '`matches` is a JavaScript regex here, not RE2: match with a rule\'s `args` regex instead';
    // Without bind a value is copied at most once per node of the (bounded) tree; with it, each level can double what the last built.
    if (name === 'bind') return '`cel.bind` lets each level reuse what the last one built, so a short expression can grow an argument exponentially: refused';
    const nested = COMPREHENSIONS.has(name) && node.op === 'rcall';
    if (nested && inComprehension) return `a comprehension (${name}) inside another costs the square of the arguments' size: refused`;
    const children = node.op === 'call' ? (node.args[1] as ASTNode[]) : [node.args[1] as ASTNode, ...(node.args[2] as ASTNode[])];
    for (const child of children) {
      const found = problemIn(child, inComprehension || nested);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const args: unknown = node.args;
  const children = Array.isArray(args) ? args.flat().filter((a): a is ASTNode => typeof a === 'object' && a !== null && 'op' in a) : typeof args === 'object' && args !== null && 'op' in args ? [args as ASTNode] : [];
  for (const child of children) {
    const found = problemIn(child, inComprehension);
    if (found !== undefined) return found;
  }
  return undefined;
}

const isId = (node: unknown, name: string): boolean => typeof node === 'object' && node !== null && (node as ASTNode).op === 'id' && (node as ASTNode).args === name;
/** isRequestArgs: the node is `request.args`. */
const isRequestArgs = (node: unknown): boolean => typeof node === 'object' && node !== null && (node as ASTNode).op === '.' && isId(((node as ASTNode).args as unknown[])[0], 'request') && ((node as ASTNode).args as unknown[])[1] === 'args';

/**
 * argsRead adds to `names` the arguments an expression reads
 * (`request.args.NAME`, `request.args['NAME']`), and answers 'all' when it
 * reads them otherwise (`request.args` or `request` as a whole).
 */
function argsRead(node: ASTNode, names: Set<string>): 'all' | undefined {
  const args: unknown = node.args;
  if ((node.op === '.' || node.op === '[]') && Array.isArray(args) && isRequestArgs(args[0])) {
    const key: unknown = args[1];
    if (node.op === '.' && typeof key === 'string') {
      names.add(key);
      return undefined;
    }
    const index = key as ASTNode;
    if (node.op === '[]' && index.op === 'value' && typeof index.args === 'string') {
      names.add(index.args);
      return undefined;
    }
    return 'all';
  }
  if (node.op === '.' && Array.isArray(args) && isId(args[0], 'request')) return args[1] === 'args' ? 'all' : undefined;
  if (isId(node, 'request')) return 'all';
  const children = Array.isArray(args) ? args.flat(2).filter((a): a is ASTNode => typeof a === 'object' && a !== null && 'op' in a) : typeof args === 'object' && args !== null && 'op' in args ? [args as ASTNode] : [];
  for (const child of children) if (argsRead(child, names) === 'all') return 'all';
  return undefined;
}

function compileExpression(source: string, at: readonly (string | number)[]): Expression {
  let run: ParseResult;
  try {
    run = environment.parse(source);
  } catch (err) {
    throw new PolicyFieldError(at, `is not a CEL expression the kernel accepts: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  const checked = run.check();
  if (!checked.valid) throw new PolicyFieldError(at, `does not type-check: ${checked.error?.message.split('\n')[0] ?? 'invalid'}`);
  if (checked.type !== 'bool' && checked.type !== 'dyn') throw new PolicyFieldError(at, `must come to a bool, not ${checked.type}`);
  const problem = problemIn(run.ast, false);
  if (problem !== undefined) throw new PolicyFieldError(at, problem);
  return { source, run };
}

function compileContract(contract: Contract, i: number): CompiledContract {
  const at = ['contracts', i] as const;
  if (contract.pre === undefined && contract.post === undefined && contract.invariants === undefined) throw new PolicyFieldError(at, 'has no pre, post or invariants: a contract must check something');
  const list = (phase: ContractPhase) => (contract[phase] ?? []).map((source, j) => compileExpression(source, [...at, phase, j]));
  const pre = list('pre');
  const read = new Set<string>();
  const preArgs = pre.some((e) => argsRead(e.run.ast, read) === 'all') ? 'all' : read;
  const syscalls = contract.syscalls === undefined || contract.syscalls.includes('*') ? undefined : new Set(contract.syscalls);
  const tools = contract.tools === undefined ? undefined : guarded([...at, 'tools'], () => anyGlob(contract.tools!));
  return {
    id: contract.id,
    order: i,
    pre,
    preArgs,
    post: list('post'),
    invariants: list('invariants'),
    signal: contract.on_failure ?? 'SIGPOLICY',
    covers: (syscall, tool) => (syscalls === undefined || syscalls.has(syscall)) && (tools === undefined || (tool !== undefined && tools(tool))),
  };
}

/** ContractCounters keeps, per contract and agent, the calls that ran and how many failed (they survive a reload that keeps the contract id). */
class ContractCounters {
  private readonly byKey = new Map<string, { calls: number; failures: number }>();
  get(contract: string, agentId: string): { calls: number; failures: number } {
    return this.byKey.get(`${contract}\u0000${agentId}`) ?? { calls: 0, failures: 0 };
  }
  ran(contract: string, agentId: string, ok: boolean): void {
    const key = `${contract}\u0000${agentId}`;
    const now = this.byKey.get(key) ?? { calls: 0, failures: 0 };
    this.byKey.set(key, { calls: now.calls + 1, failures: now.failures + (ok ? 0 : 1) });
  }
}

/** tooLarge says why `value` is more than a contract may read (MAX_ARG_VALUES values, MAX_ARG_CHARS in a string), or undefined. */
function tooLarge(value: unknown): string | undefined {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (++n > MAX_ARG_VALUES) return `they hold more than ${MAX_ARG_VALUES} values`;
    if (typeof v === 'string' && v.length > MAX_ARG_CHARS) return `a string in them is longer than ${MAX_ARG_CHARS} characters`;
    if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) for (const key in v) stack.push((v as Record<string, unknown>)[key]);
  }
  return undefined;
}

/** celValue makes a JavaScript value one CEL can read: undefined is null. */
const celValue = (v: unknown): unknown => (v === undefined ? null : v);

/**
 * ContractSet is a policy's contracts. It answers which contracts cover a
 * call and checks them; the counters live in the engine's (kernel-wide)
 * ContractLedger so they carry over a reload.
 */
export class ContractSet {
  readonly contracts: readonly CompiledContract[];
  /** Contracts by syscall name; those naming no syscall apply to every one. */
  private readonly bySyscall = new Map<string, CompiledContract[]>();
  private readonly anySyscall: CompiledContract[] = [];
  /** Tool names the contracts name literally, and whether any names tools by a pattern. */
  private readonly namedTools = new Set<string>();
  private readonly toolGlobs: boolean;
  private readonly memo = new Map<string, Map<string, readonly CompiledContract[]>>();

  constructor(contracts: readonly Contract[]) {
    const seen = new Map<string, number>();
    this.contracts = contracts.map((c, i) => {
      if (seen.has(c.id)) throw new PolicyFieldError(['contracts', i, 'id'], `duplicate contract id '${c.id}' (first at contracts[${seen.get(c.id)}])`);
      seen.set(c.id, i);
      return compileContract(c, i);
    });
    for (const c of contracts) for (const t of c.tools ?? []) if (isLiteral(t)) this.namedTools.add(t);
    this.toolGlobs = contracts.some((c) => c.tools?.some((t) => !isLiteral(t)));
    contracts.forEach((c, i) => {
      const compiled = this.contracts[i]!;
      if (c.syscalls === undefined || c.syscalls.includes('*')) this.anySyscall.push(compiled);
      else for (const name of new Set(c.syscalls)) listIn(this.bySyscall, name).push(compiled);
    });
  }

  /**
   * covering lists the contracts that apply to a call (none: the usual case).
   * The answer is kept per syscall and tool the contracts name (others share
   * one entry each, so what agents choose to call cannot grow it); a tool
   * pattern that is not a literal name is matched on every call.
   */
  covering(syscall: string, tool: string | undefined): readonly CompiledContract[] {
    if (this.contracts.length === 0) return [];
    const toolKey = tool === undefined ? '' : this.namedTools.has(tool) ? tool : this.toolGlobs ? undefined : '\u0001';
    if (toolKey === undefined) return this.compute(syscall, tool);
    const syscallKey = this.bySyscall.has(syscall) ? syscall : '';
    let byTool = this.memo.get(syscallKey);
    if (byTool === undefined) this.memo.set(syscallKey, (byTool = new Map()));
    let found = byTool.get(toolKey);
    if (found === undefined) byTool.set(toolKey, (found = this.compute(syscall, tool)));
    return found;
  }

  private compute(syscall: string, tool: string | undefined): readonly CompiledContract[] {
    const named = this.bySyscall.get(syscall);
    const all = named === undefined ? this.anySyscall : this.anySyscall.length === 0 ? named : [...named, ...this.anySyscall];
    // In document order: the first that fails is the one a denial names.
    return all.filter((c) => c.covers(syscall, tool)).toSorted((a, b) => a.order - b.order);
  }
}

/** ContractLedger checks contracts and keeps their counters, for the kernel's lifetime. */
export class ContractLedger {
  private readonly counters = new ContractCounters();
  private readonly tokens: (agentId: string) => number;

  constructor(tokens: (agentId: string) => number) {
    this.tokens = tokens;
  }

  private context(request: PolicyRequest, contract: CompiledContract, result?: CallResult): Record<string, unknown> {
    return {
      request: { syscall: request.syscall, access: request.access ?? 'none', path: request.path ?? '', tool: request.tool ?? '', args: request.args ?? {} },
      agent: { id: request.agentId, labels: request.labels ?? {}, capabilities: [...(request.capabilities ?? [])], trust: request.trust ?? 1000, lineage: request.lineage ?? 'root' },
      counters: { ...this.counters.get(contract.id, request.agentId), tokens: this.tokens(request.agentId) },
      result: result === undefined ? {} : { ok: result.ok, errno: result.errno ?? '', value: celValue(result.value) },
    };
  }

  private check(contract: CompiledContract, phase: ContractPhase, context: Record<string, unknown>): ContractFailure | undefined {
    for (const expression of contract[phase]) {
      let value: unknown;
      try {
        value = expression.run(context);
      } catch (err) {
        return { contract: contract.id, phase, expression: expression.source, why: `could not be evaluated (${err instanceof Error ? err.message.split('\n')[0] : String(err)}): failed closed`, signal: contract.signal };
      }
      if (value !== true) return { contract: contract.id, phase, expression: expression.source, why: value === false ? 'is false' : `came to ${typeof value}, not a bool: failed closed`, signal: contract.signal };
    }
    return undefined;
  }

  /** before checks the pre-conditions of the contracts covering `request`: the first that fails, or undefined. */
  before(contracts: readonly CompiledContract[], request: PolicyRequest): ContractFailure | undefined {
    let large: string | undefined | null = null; // null: not looked at yet (only a contract with pre-conditions reads the arguments)
    for (const contract of contracts) {
      if (contract.pre.length === 0) continue;
      if (large === null) large = tooLarge(request.args);
      if (large !== undefined) return { contract: contract.id, phase: 'pre', expression: contract.pre[0]!.source, why: `not evaluated: the call's arguments are too large to check (${large}): failed closed`, signal: contract.signal };
      const failed = this.check(contract, 'pre', this.context(request, contract));
      if (failed !== undefined) return failed;
    }
    return undefined;
  }

  /** after counts a call that ran and checks post-conditions (if it succeeded) and invariants: every failure. */
  after(contracts: readonly CompiledContract[], request: PolicyRequest, result: CallResult): ContractFailure[] {
    const failures: ContractFailure[] = [];
    let readable: CallResult | undefined; // the result as contracts may read it, worked out once
    for (const contract of contracts) {
      this.counters.ran(contract.id, request.agentId, result.ok);
      if (contract.post.length === 0 && contract.invariants.length === 0) continue;
      readable ??= tooLarge(result.value) === undefined ? result : { ...result, value: null };
      const context = this.context(request, contract, readable);
      const post = result.ok ? this.check(contract, 'post', context) : undefined;
      if (post !== undefined) failures.push(post);
      const invariant = this.check(contract, 'invariants', context);
      if (invariant !== undefined) failures.push(invariant);
    }
    return failures;
  }
}
