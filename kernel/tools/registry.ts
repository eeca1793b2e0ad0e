/**
 * ToolRegistry holds the tools SYS_EXEC can run: built-ins, operator-declared
 * commands and MCP server tools, each with a name, a description, a JSON
 * Schema for its arguments (checked with ajv), a risk level, a timeout and an
 * output size limit. `call` is the whole execution contract: look up (ENOENT),
 * validate (EINVAL with the schema error), run under the timeout (ETIMEDOUT,
 * the tool's AbortSignal fires), check the output is plain JSON within the
 * limit (EFBIG), and turn any failure into an errno (EIO unless the tool
 * threw a KernelError of its own). No host exception leaves `call`.
 *
 * Capability and policy checks are not here: the dispatcher makes them on the
 * tool name and its arguments before the handler runs. A tool can be held
 * (an upstream tool whose description changed since an operator pinned it,
 * tool-pins.ts): it is not listed and a call is EACCES until it is released.
 */
import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import { canonicalJson } from '../canonical-json.ts';
import type { StreamWriter } from '../fd-entries.ts';
import type { ProcessSecret } from './secrets.ts';
import { KernelError } from '../../abi/errno.ts';
import type { ToolResult } from '../../syscalls/context.ts';
import type { JsonValue } from '../../syscalls/schema.ts';

export type Risk = 'low' | 'medium' | 'high' | 'critical';
export type JsonObject = { readonly [key: string]: JsonValue };
/** JsonSchema is a JSON Schema document (draft-07 or 2020-12 keywords ajv knows). */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** ToolCaller is who a tool runs for. */
export interface ToolCaller {
  readonly pid: number;
  readonly agentId: string;
  /** addTokens counts LLM tokens the call used against the agent's token budgets. */
  addTokens(tokens: number): void;
  /** openStream, for a process, gives it a new fd to read a streamed body from; absent for callers outside the kernel. */
  openStream?(): StreamWriter;
  /** The secrets the caller was granted: placeholders it may send, values only tools see (secrets.ts). */
  readonly secrets?: readonly ProcessSecret[];
  /** charge bills the caller's process tree for kernel work done for the call after it started (reading and copying the answer), ns. */
  charge?(ns: number): void;
}

/** ToolInvocation is what a tool's run function gets besides its arguments. */
export interface ToolInvocation {
  readonly caller: ToolCaller;
  /** Aborted when the call times out; a tool should stop its I/O then. */
  readonly signal: AbortSignal;
  /** The output limit, bytes, for tools that can stop reading early. */
  readonly maxOutputBytes: number;
  /** The tool's time limit, ms (a tool that goes on after answering, streaming a body, keeps to it). */
  readonly timeoutMs: number;
}

export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  /** JSON Schema of the arguments object; `{ type: 'object' }` accepts any object. */
  readonly inputSchema: JsonSchema;
  readonly risk: Risk;
  /** Wall time a call may take, ms (asynchronous tools; a synchronous run is ring-0 code that returns at once). */
  readonly timeoutMs: number;
  /** Largest output, bytes of its JSON text. */
  readonly maxOutputBytes: number;
  /** Names of arguments whose text the tool executes as code, a command or a script (the vfs-to-exec guard). */
  readonly executes?: readonly string[];
  /** Where the tool comes from: `builtin`, `command`, `mcp:<server>`. */
  readonly source: string;
  /** run does the work; it returns plain JSON data (or a promise of it) and throws to fail. */
  run(args: JsonObject, call: ToolInvocation): JsonValue | Promise<JsonValue>;
}

/** ToolInfo is what callers may know about a tool (no run function). */
export type ToolInfo = Omit<ToolSpec, 'run'>;

interface Entry {
  readonly spec: ToolSpec;
  readonly validate: ValidateFunction;
  /** toolDigest of the spec's description and schema. */
  readonly digest: string;
}

/** Described is what a tool tells its callers about itself: what an operator pins. */
export type Described = Pick<ToolSpec, 'description' | 'inputSchema'>;

/** toolDigest is `sha256:` and the hash of the canonical JSON of a tool's description and input schema. */
export function toolDigest(tool: Described): string {
  return `sha256:${createHash('sha256').update(canonicalJson({ description: tool.description, inputSchema: tool.inputSchema })).digest('hex')}`;
}

/** Tool names: what capabilities (`tool:<name>`) and policy globs can name. */
export const TOOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$/;
const MAX_MESSAGE = 2000;
const EMPTY: JsonObject = Object.freeze({});

/** schemaError renders ajv's first error as `args.url: must match pattern "^https?://"`. */
function schemaError(validate: ValidateFunction): string {
  const err = validate.errors?.[0];
  if (err === undefined) return 'arguments do not match the tool schema';
  const where = `args${err.instancePath.replaceAll('/', '.')}`;
  const params = err.params as Record<string, unknown>;
  if (err.keyword === 'additionalProperties') return `${where}: unknown argument '${String(params.additionalProperty)}'`;
  if (err.keyword === 'required') return `${where}: missing argument '${String(params.missingProperty)}'`;
  if (err.keyword === 'enum') return `${where}: must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return `${where}: ${err.message ?? 'is invalid'}`;
}

/** failure turns whatever a tool threw into a KernelError: its own errno, or EIO with its message. */
function failure(name: string, err: unknown): KernelError {
  if (err instanceof KernelError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new KernelError('EIO', `tool '${name}' failed: ${text.slice(0, MAX_MESSAGE)}`);
}

/** finish checks the output is JSON data within the limit and returns a plain copy of it. */
function finish(spec: ToolSpec, output: JsonValue, started: number): ToolResult {
  let text: string | undefined;
  try {
    text = JSON.stringify(output === undefined ? null : output);
  } catch (err) {
    throw failure(spec.name, new Error(`output is not JSON data (${err instanceof Error ? err.message : String(err)})`));
  }
  const bytes = Buffer.byteLength(text ?? 'null');
  if (bytes > spec.maxOutputBytes) throw new KernelError('EFBIG', `tool '${spec.name}' output is ${bytes} bytes, over its limit of ${spec.maxOutputBytes}`);
  return { tool: spec.name, output: JSON.parse(text ?? 'null') as JsonValue, bytes, ms: Date.now() - started };
}

/** Long Unicode general-category names ECMAScript allows in `\p{…}`, as RE2 spells them. */
const CATEGORIES: Readonly<Record<string, string>> = {
  Letter: 'L', Cased_Letter: 'LC', Uppercase_Letter: 'Lu', Lowercase_Letter: 'Ll', Titlecase_Letter: 'Lt', Modifier_Letter: 'Lm', Other_Letter: 'Lo',
  Mark: 'M', Number: 'N', Decimal_Number: 'Nd', digit: 'Nd', Letter_Number: 'Nl', Other_Number: 'No', Punctuation: 'P', punct: 'P', Symbol: 'S', Separator: 'Z',
  Space_Separator: 'Zs', Other: 'C', Control: 'Cc', cntrl: 'Cc', Format: 'Cf',
};

/** re2Syntax rewrites what ECMAScript patterns say differently from RE2: `\uXXXX` and `\u{X}` as `\x{X}`, `\p{Letter}` and `\p{Script=Greek}` as `\p{L}` and `\p{Greek}` (an escaped backslash stays). */
function re2Syntax(pattern: string): string {
  return pattern.replace(/\\\\|\\u\{([0-9a-fA-F]{1,6})\}|\\u([0-9a-fA-F]{4})|\\([pP])\{(?:(?:Script|sc|Script_Extensions|scx|General_Category|gc)=)?([A-Za-z_]+)\}/g, (whole, braced?: string, four?: string, p?: string, name?: string) => {
    if (braced !== undefined || four !== undefined) return `\\x{${braced ?? four}}`;
    if (p !== undefined && name !== undefined) return `\\${p}{${CATEGORIES[name] ?? name}}`;
    return whole;
  });
}

/** A pattern RE2 cannot run: not checked in ring 0 (the tool's own server checks its input; the policy is the kernel's control). */
const UNCHECKED = { test: (): boolean => true };

/** RE2_ENGINE is Ajv's regExp engine: re2js (linear in the input; Unicode always on). */
const RE2_ENGINE = Object.assign(
  (pattern: string) => {
    try {
      return RE2JS.compile(re2Syntax(pattern));
    } catch {
      return UNCHECKED;
    }
  },
  { code: 're2js' },
);

export class ToolRegistry {
  private readonly tools = new Map<string, Entry>();
  // A schema's `pattern` runs on agent input in ring 0, and an MCP server (a peer) writes its tools' schemas: RE2, linear
  // in the input (an attacker pass: `^(a|a)*$` on 28 characters held the event loop 4.2 s). A pattern RE2 cannot run
  // (a lookaround, a backreference: zod's hostname and duration patterns have them) is not checked here.
  private readonly ajv = new Ajv({ strict: false, allErrors: false, logger: false, validateFormats: false, code: { regExp: RE2_ENGINE } });
  private readonly closers: (() => Promise<void>)[] = [];
  /** Held tools and why (the EACCES message a call gets). */
  private readonly held = new Map<string, string>();
  private readonly revisers: ((name: string, digest: string) => void)[] = [];
  private sealed = false;

  /** seal refuses further registrations (EPERM): for a registry shared by several kernels. */
  seal(): this {
    this.sealed = true;
    return this;
  }

  /**
   * register adds a tool. EINVAL for a malformed name, a schema ajv cannot
   * compile or a non-positive limit; EEXIST for a name already taken; EPERM
   * once sealed.
   */
  register(spec: ToolSpec): void {
    if (this.sealed) throw new KernelError('EPERM', `the registry is sealed; cannot add '${spec.name}'`);
    if (!TOOL_NAME.test(spec.name)) throw new KernelError('EINVAL', `bad tool name '${spec.name}': letters, digits, '.', '_' and '-', at most 256`);
    if (this.tools.has(spec.name)) throw new KernelError('EEXIST', `tool '${spec.name}' is already registered`);
    if (!(spec.timeoutMs > 0) || !(spec.maxOutputBytes > 0)) throw new KernelError('EINVAL', `tool '${spec.name}': timeoutMs and maxOutputBytes must be positive`);
    this.tools.set(spec.name, { spec: Object.freeze({ ...spec, executes: Object.freeze([...(spec.executes ?? [])]) }), validate: this.compile(spec), digest: toolDigest(spec) });
  }

  private compile(spec: Pick<ToolSpec, 'name' | 'inputSchema'>): ValidateFunction {
    try {
      return this.ajv.compile(spec.inputSchema);
    } catch (err) {
      throw new KernelError('EINVAL', `tool '${spec.name}': its input schema does not compile: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** digest is toolDigest of tool `name` as registered (or last revised); undefined for an unknown tool. */
  digest(name: string): string | undefined {
    return this.tools.get(name)?.digest;
  }

  /**
   * revise takes a new description and schema for tool `name` from its source
   * (an MCP server that announced a changed tool list) and tells the
   * onRevise listeners when they differ. A schema that does not compile
   * holds the tool. False if nothing changed or there is no such tool.
   */
  revise(name: string, described: Described): boolean {
    const entry = this.tools.get(name);
    if (entry === undefined) return false;
    const digest = toolDigest(described);
    if (digest === entry.digest) return false;
    let validate: ValidateFunction;
    try {
      validate = this.compile({ name, inputSchema: described.inputSchema });
    } catch (err) {
      this.hold(name, (err as KernelError).message);
      return true;
    }
    // Ajv keeps every schema it compiled: the old one goes (a server that revises without end grew the heap for good).
    this.ajv.removeSchema(entry.spec.inputSchema);
    this.tools.set(name, { spec: Object.freeze({ ...entry.spec, description: described.description, inputSchema: described.inputSchema }), validate, digest });
    for (const listener of this.revisers) listener(name, digest);
    return true;
  }

  /** onRevise calls `listener` with a tool's name and new digest when its source revised it. */
  onRevise(listener: (name: string, digest: string) => void): void {
    this.revisers.push(listener);
  }

  /** hold withdraws tool `name`: not listed, and a call is EACCES with `reason`, until release. */
  hold(name: string, reason: string): void {
    this.held.set(name, reason);
  }

  release(name: string): void {
    this.held.delete(name);
  }

  /** heldReason is why tool `name` is held, or undefined if it is offered. */
  heldReason(name: string): string | undefined {
    return this.held.get(name);
  }

  /** onClose registers cleanup (e.g. an MCP connection) for close(). */
  onClose(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** close runs every cleanup registered with onClose; errors are swallowed. */
  async close(): Promise<void> {
    await Promise.all(this.closers.splice(0).map((c) => c().catch(() => undefined)));
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  /** info describes tool `name`, or undefined. */
  info(name: string): ToolInfo | undefined {
    const entry = this.tools.get(name);
    if (entry === undefined) return undefined;
    const { run: _run, ...info } = entry.spec;
    return info;
  }

  /** list describes every tool offered (not held), sorted by name. */
  list(): ToolInfo[] {
    return [...this.tools.keys()]
      .filter((n) => !this.held.has(n))
      .toSorted()
      .map((n) => this.info(n)!);
  }

  /** names are every registered tool's name, held ones included, sorted. */
  names(): string[] {
    return [...this.tools.keys()].toSorted();
  }

  /** executableText returns the text of the arguments tool `name` executes (empty if none or unknown). */
  executableText(name: string, args: JsonValue): string[] {
    const spec = this.tools.get(name)?.spec;
    if (spec === undefined || spec.executes === undefined || spec.executes.length === 0) return [];
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return [];
    const out: string[] = [];
    for (const key of spec.executes) {
      if (!Object.hasOwn(args, key)) continue;
      const value = (args as JsonObject)[key];
      if (typeof value === 'string') out.push(value);
      else if (Array.isArray(value)) out.push(value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' '));
      else if (value !== null && value !== undefined) out.push(JSON.stringify(value));
    }
    return out;
  }

  /**
   * call runs tool `name` with `args` for `caller`. A synchronous tool
   * answers synchronously; an asynchronous one returns a promise that settles
   * within its timeout. Errors (thrown, or the promise's rejection) are
   * always KernelErrors: ENOENT, EINVAL, ETIMEDOUT, EFBIG, EIO or the tool's own.
   */
  call(name: string, args: JsonValue, caller: ToolCaller, cancel?: AbortSignal): ToolResult | Promise<ToolResult> {
    const entry = this.tools.get(name);
    if (entry === undefined) throw new KernelError('ENOENT', `no tool '${name}'`);
    const held = this.held.get(name);
    if (held !== undefined) throw new KernelError('EACCES', held);
    const { spec, validate } = entry;
    const input = (args === null ? EMPTY : args) as JsonObject;
    if (!validate(input)) throw new KernelError('EINVAL', `tool '${name}': ${schemaError(validate)}`);
    const started = Date.now();
    const controller = new AbortController();
    if (cancel?.aborted) throw new KernelError('ECANCELED', `tool '${name}' was canceled`);
    let output: JsonValue | Promise<JsonValue>;
    try {
      output = spec.run(input, { caller, signal: controller.signal, maxOutputBytes: spec.maxOutputBytes, timeoutMs: spec.timeoutMs });
    } catch (err) {
      throw failure(name, err);
    }
    if (!(output instanceof Promise)) return finish(spec, output, started);
    return new Promise<ToolResult>((resolve, reject) => {
      const stop = (reason: KernelError) => {
        controller.abort(reason);
        reject(reason);
      };
      const timer = setTimeout(() => stop(new KernelError('ETIMEDOUT', `tool '${name}' timed out after ${spec.timeoutMs} ms`)), spec.timeoutMs);
      // The caller's cancel (SYS_CANCEL, or its process ending) aborts the tool's I/O as a timeout does.
      const onCancel = () => {
        clearTimeout(timer);
        stop(new KernelError('ECANCELED', `tool '${name}' was canceled`));
      };
      cancel?.addEventListener('abort', onCancel, { once: true });
      output.then(
        (value) => {
          clearTimeout(timer);
          cancel?.removeEventListener('abort', onCancel);
          if (controller.signal.aborted) return;
          // The output's copy is work for the caller, done after its call was measured: its tree pays for it.
          const copying = performance.now();
          try {
            resolve(finish(spec, value, started));
          } catch (err) {
            reject(failure(name, err));
          } finally {
            caller.charge?.((performance.now() - copying) * 1e6);
          }
        },
        (err: unknown) => {
          clearTimeout(timer);
          cancel?.removeEventListener('abort', onCancel);
          if (!controller.signal.aborted) reject(failure(name, err));
        },
      );
    });
  }
}
