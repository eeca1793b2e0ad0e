/**
 * `agentctl run FILE [-- args]`: boot an embedded kernel (memfs, no daemon),
 * run one program, stream its output, exit with its status. A program,
 * policy or manifest that cannot be read or compiled is one line on stderr
 * and status 2.
 */
import { parse as parseYaml } from 'yaml';
import { fixedApprover, type Approver } from '../../kernel/approvals.ts';
import type { AgentManifest } from '../../kernel/capabilities.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { inLimitRange, LIMIT_BOUNDS, LIMIT_NAMES, LIMIT_TABLE, limitRange, limitsFromPolicy, type LimitRequest, type ProcessLimits } from '../../kernel/limits.ts';
import { loadPolicyFile, PolicyError } from '../../kernel/policy/load.ts';
import { buildProgramFile } from '../../kernel/program-build.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { observed } from '../../kernel/recorder/observed.ts';
import { buildRegistry, loadToolsConfig, ToolsConfigError } from '../../kernel/tools/config.ts';
import type { ToolRegistry } from '../../kernel/tools/registry.ts';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { recordRun, type RunRecording } from '../../kernel/run-tape/record-run.ts';
import { sealingKey } from '../../kernel/run-tape/tape-seal.ts';
import { KernelError } from '../../abi/errno.ts';
import { addressHint, denialHint, endedByDenial, watchDenials, type DenialWatch } from './denial-hint.ts';
import { InputFileError, readInput } from './input-file.ts';
import { promptApprover } from './prompt-approver.ts';
import { takeTerminalKeys, type TerminalKeys } from './terminal-keys.ts';
import { wholeNumber } from './whole-number.ts';
import { processOutput } from '../../kernel/stream-output.ts';

export interface RunOptions {
  json?: boolean;
  memory?: string;
  agent?: string;
  policy?: string;
  manifest?: string;
  tools?: string;
  log?: string;
  durable?: boolean;
  approve?: string;
  restore?: string;
  state?: string;
  cpuMs?: string;
  limit?: string[];
  wallMs?: string;
  grace?: string;
  record?: string;
  sealKey?: string;
}


/** inRange is `value`, if limit `key` may take it (LIMIT_BOUNDS: a policy's range, which a replay holds a tape to); else a usage error: `flag`, `value` and the range. */
function inRange(key: keyof ProcessLimits, flag: string, value: number): number {
  const bound = LIMIT_BOUNDS.get(key)!;
  if (inLimitRange(bound, value)) return value;
  const unit = LIMIT_TABLE.find((l) => l.key === key)!.unit;
  throw new UsageError(`${flag}: ${value} is out of range: ${limitRange(bound)}${unit === 'count' ? '' : ` ${unit}`}`);
}

/** kernelLimits reads `--limit name=value` flags into the kernel's limits (they replace the defaults, so they may raise them, within each limit's range). */
function kernelLimits(flags: readonly string[]): LimitRequest {
  const raw: Record<string, number> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const name = eq < 0 ? flag : flag.slice(0, eq);
    const row = LIMIT_TABLE.find((l) => l.name === name);
    if (row === undefined) throw new UsageError(`--limit ${name}: not a limit (${LIMIT_NAMES.join(', ')})`);
    const value = wholeNumber(flag.slice(eq + 1));
    if (eq < 0 || value === undefined) throw new UsageError(`--limit ${name}: give a whole number, e.g. --limit ${name}=1000`);
    raw[name] = inRange(row.key, `--limit ${name}`, value);
  }
  return limitsFromPolicy(raw) ?? {};
}

/** limitFlag reads a flag that sets limit `key` (--memory, --cpu-ms, --wall-ms): a whole number in the limit's range. */
function limitFlag(text: string | undefined, flag: string, key: keyof ProcessLimits, unit = ''): number | undefined {
  if (text === undefined) return undefined;
  const value = wholeNumber(text);
  if (value === undefined) throw new UsageError(`${flag} must be a whole number${unit}, ${limitRange(LIMIT_BOUNDS.get(key)!)}`);
  return inRange(key, flag, value);
}

function positive(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = wholeNumber(text) ?? 0;
  if (n < 1) throw new UsageError(`${flag} must be a whole number, at least 1`);
  return n;
}

export class UsageError extends Error {}


const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MANIFEST_KEYS: ReadonlySet<string> = new Set(['id', 'labels', 'capabilities', 'autonomy', 'env', 'secrets']);

/** envNames reads a manifest list of environment variable names (`env` or `secrets`); a usage error names file and field. */
function envNames(file: string, data: Record<string, unknown>, field: 'env' | 'secrets'): string[] {
  const names = data[field] ?? [];
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string' && ENV_NAME.test(n))) {
    throw new UsageError(`manifest ${file}: ${field}: must be a list of environment variable names`);
  }
  return names;
}

/**
 * granted is what a manifest grants its program from agentctl's own
 * environment: `env` names whose values it sees (unset ones are left out),
 * and `secrets` (each must be set) that it sees only as placeholders.
 * Nothing else of the host's environment reaches the agent.
 */
function granted(file: string, data: Record<string, unknown>): { env: Record<string, string>; secrets: Record<string, string> } {
  const env: Record<string, string> = {};
  for (const name of envNames(file, data, 'env')) {
    const value = Object.hasOwn(process.env, name) ? process.env[name] : undefined;
    if (typeof value === 'string') env[name] = value;
  }
  const secrets: Record<string, string> = {};
  for (const name of envNames(file, data, 'secrets')) {
    // Own variables only: process.env.toString is a function, not a variable that is set.
    const value = Object.hasOwn(process.env, name) ? process.env[name] : undefined;
    if (typeof value !== 'string' || value === '') throw new UsageError(`manifest ${file}: secrets: ${name} is not set in the environment`);
    secrets[name] = value;
  }
  return { env, secrets };
}

export function readManifest(file: string): Partial<AgentManifest> {
  let data: unknown;
  try {
    data = parseYaml(readInput(file));
  } catch (err) {
    if (err instanceof InputFileError) throw new UsageError(`manifest ${err.message}`);
    throw new UsageError(`manifest ${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`manifest ${file}: must be an object with id, labels, capabilities, autonomy, env, secrets`);
  const unknown = Object.keys(data).find((key) => !MANIFEST_KEYS.has(key));
  if (unknown !== undefined) throw new UsageError(`manifest ${file}: ${unknown}: is not a known field (id, labels, capabilities, autonomy, env, secrets)`);
  return data as Partial<AgentManifest>;
}

/** chooseApprover answers approval questions as --approve says; a prompt has the terminal (`keys`, once taken) lent to it while it asks. */
function chooseApprover(mode: string | undefined, keys: () => TerminalKeys | undefined): { approver: Approver; close(): void } {
  const chosen = mode ?? (process.stdin.isTTY ? 'prompt' : 'deny');
  if (chosen === 'allow' || chosen === 'deny') return { approver: fixedApprover(chosen === 'allow'), close() {} };
  if (chosen !== 'prompt') throw new UsageError(`--approve must be deny, allow or prompt`);
  const prompt = promptApprover();
  return {
    approver: async (approval) => {
      keys()?.lend();
      try {
        return await prompt.approver(approval);
      } finally {
        keys()?.reclaim();
      }
    },
    close: prompt.close,
  };
}

/** Seconds an agent waits on nothing before `agentctl run` says so. */
const QUIET_S = 5;

export async function runCommand(file: string, args: string[], options: RunOptions): Promise<number> {
  let kernel: Kernel;
  let pid: number;
  let log: FileDecisionLog | undefined;
  let approvals: { close(): void } | undefined;
  let tools: ToolRegistry | undefined;
  let keys: TerminalKeys | undefined;
  let denials: DenialWatch;
  let manifest: Partial<AgentManifest>;
  let recording: RunRecording | undefined;
  try {
    const memoryLimitMib = limitFlag(options.memory, '--memory', 'heapMib', ' of MiB');
    const policy = options.policy === undefined ? undefined : loadPolicyFile(options.policy);
    manifest = options.manifest === undefined ? {} : readManifest(options.manifest);
    const { env, secrets } = options.manifest === undefined ? { env: {}, secrets: {} } : granted(options.manifest, manifest as Record<string, unknown>);
    if (options.sealKey !== undefined && options.record === undefined) throw new UsageError('--seal-key signs a recording: give --record DIR too');
    const sealKey = options.sealKey === undefined ? undefined : sealingKey(options.sealKey);
    const program = await buildProgramFile(file);
    const approver = chooseApprover(options.approve, () => keys);
    approvals = approver;
    log = options.log === undefined ? undefined : new FileDecisionLog(options.log, { durable: options.durable ?? false });
    const limits = { cpuMs: limitFlag(options.cpuMs, '--cpu-ms', 'cpuMs'), wallMs: limitFlag(options.wallMs, '--wall-ms', 'wallMs') };
    tools = options.tools === undefined ? undefined : await buildRegistry(loadToolsConfig(options.tools), { hide: [options.state, options.log, options.record, options.sealKey].filter((p) => p !== undefined) });
    denials = watchDenials(log ?? new MemoryDecisionLog());
    // With --record, the policy's decisions on the children's calls go on the tape too (recording is made just below, before any spawn).
    const recorder = options.record === undefined ? denials.recorder : observed(denials.recorder, (entry) => recording?.decided(entry));
    kernel = new Kernel({ memoryLimitMib, policy, recorder, approver: approver.approver, stateDir: options.state, termGraceMs: positive(options.grace, '--grace'), tools, limits: kernelLimits(options.limit ?? []), stdout: processOutput.stdout, stderr: processOutput.stderr });
    if (options.record !== undefined) {
      const facts = { path: file, argv: args, ...(options.agent !== undefined ? { agentId: options.agent } : {}), manifest: { ...(manifest.labels ? { labels: manifest.labels } : {}), ...(manifest.capabilities ? { capabilities: manifest.capabilities } : {}), ...(manifest.autonomy ? { autonomy: manifest.autonomy } : {}) }, policyVersion: kernel.engine.version, policySource: kernel.engine.policy.source, ...(sealKey !== undefined ? { sealKey } : {}) };
      recording = recordRun(options.record, program, facts);
    }
    // With --record, what reaches the operator is kept (the root's output and its children's: they share these fds).
    const out = recording === undefined ? {} : { stdout: recording.sink(1, processOutput.stdout), stderr: recording.sink(2, processOutput.stderr), ...recording.spawn };
    pid = kernel.spawn(program, { argv: args, env, secrets, agentId: options.agent, manifest, limits, restore: options.restore, ...out }).pid;
  } catch (err) {
    recording?.abandon();
    const known = err instanceof KernelError || err instanceof PolicyError || err instanceof UsageError || err instanceof ToolsConfigError;
    process.stderr.write(`agentctl: ${known ? err.message : String(err)}\n`);
    log?.close();
    approvals?.close();
    await tools?.close();
    return 2;
  }
  const forward = (signal: 'SIGINT' | 'SIGTERM') => () => {
    try {
      kernel.kill(pid, signal, 'operator');
    } catch {
      // already gone
    }
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  // Ctrl-C in a terminal is read as a key, not left to become the process group's SIGINT (terminal-keys.ts): 131 under npx too.
  keys = takeTerminalKeys(onInt);
  // An agent idle on a promise that never settles keeps the command running, as an open handle keeps a Node program (until
  // Ctrl-C or a limit); once nothing could settle it for QUIET_S seconds (no timer, call, read or signal handler), one note says so.
  let quiet = 0;
  const alive = setInterval(() => {
    const proc = kernel.get(pid);
    quiet = proc?.exit === undefined && proc?.sandbox?.waitsOnNothing === true && !proc.signals.handlesAny ? quiet + 1 : 0;
    if (quiet === QUIET_S) process.stderr.write(`agentctl: pid ${pid} is waiting on a promise nothing can settle (no timers, calls, reads or signal handlers pending); Ctrl-C ends it\n`);
  }, 1000);
  const record = await kernel.wait(pid);
  keys?.release();
  clearInterval(alive);
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  // The program's children end with it (SIGKILL, recorded as 'kernel shutdown') before the log closes.
  await kernel.shutdown();
  const unsealed = recording?.close(record);
  if (unsealed !== undefined) process.stderr.write(`agentctl: the recording in ${options.record} is whole but could not be sealed: ${unsealed.message}\n`);
  approvals.close();
  await tools?.close();
  log?.close();
  if (record.reason.kind === 'error') process.stderr.write(`${record.reason.error}\n`);
  if (record.reason.kind === 'signal') process.stderr.write(`agentctl: pid ${pid} killed by ${record.reason.signal} (${record.reason.why})\n`);
  const denied = denials.lastDenied(pid);
  if (endedByDenial(record, denied)) {
    const hint = denialHint(denied, { agentId: record.agentId, labels: manifest.labels, capabilities: manifest.capabilities }, kernel.engine, { policyGiven: options.policy !== undefined });
    if (hint !== undefined) process.stderr.write(`agentctl: hint: ${hint}\n`);
  }
  const address = addressHint(record, options.tools);
  if (address !== undefined) process.stderr.write(`agentctl: hint: ${address}\n`);
  if (options.json) {
    const summary = { ...record, policyVersion: kernel.engine.version, ...(log ? { log: { file: log.path, records: log.count, head: log.head } } : {}) };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  }
  if (kernel.degraded !== undefined) {
    // A quarantined isolate's thread keeps the process from exiting normally; everything is flushed, so end it here.
    process.stderr.write(`agentctl: ${kernel.degraded}\n`);
    process.stdout.write('', () => process.kill(process.pid, 'SIGKILL'));
  }
  // A signature was asked for and none was made: the operator must not take the recording for a signed one.
  if (unsealed !== undefined && options.sealKey !== undefined) return 2;
  return record.status;
}
