/**
 * One cell of an experiment: a program under a policy, once, in a kernel of
 * its own (embedded, memfs), recorded as a replayable run (kernel/run-tape)
 * in the cell's folder; what the report needs is read back from its decision
 * log, its signals and its tape.
 */
import { join } from 'node:path';
import type { Effect } from '../../abi/kinds.ts';
import { SYSCALL_NUMBERS, syscallName } from '../../syscalls/table.ts';
import { fixedApprover } from '../approvals.ts';
import type { AgentManifest } from '../capabilities.ts';
import { MemoryDecisionLog } from '../decision-log.ts';
import { observed } from '../recorder/observed.ts';
import { Kernel } from '../kernel.ts';
import type { LimitRequest } from '../limits.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { Program } from '../program.ts';
import { endOf, recordRun, type RunRecording } from '../run-tape/record-run.ts';
import { decode } from '../run-tape/codec.ts';
import { readTape } from '../run-tape/tape-read.ts';
import type { ToolRegistry } from '../tools/registry.ts';

/** Latency buckets, upper bounds in ms (the last is everything longer). */
export const LATENCY_BUCKETS_MS: readonly number[] = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, Number.POSITIVE_INFINITY];

export interface CellPlan {
  readonly id: string;
  readonly program: string;
  readonly policy: string;
  readonly rep: number;
  readonly adversarial: boolean;
}

export interface CellResult extends CellPlan {
  /** ok: exit 0; failed: another status or an uncaught error; killed: ended by a signal. */
  readonly outcome: 'ok' | 'failed' | 'killed';
  readonly status: number;
  readonly reason: string;
  readonly ms: number;
  readonly calls: number;
  readonly decisions: Readonly<Record<Effect, number>>;
  /** rule → effect → how many decisions it made. */
  readonly byRule: Readonly<Record<string, Readonly<Partial<Record<Effect, number>>>>>;
  /** Signals the cell's processes were sent, by name. */
  readonly signals: Readonly<Record<string, number>>;
  /** SIGPOLICY deliveries and broken contracts. */
  readonly violations: number;
  readonly tokens: number;
  /** syscall (or `tool <name>` for SYS_EXEC) → counts in LATENCY_BUCKETS_MS. */
  readonly latency: Readonly<Record<string, number[]>>;
  /** The cell's recorded run, relative to the experiment's output folder. */
  readonly tape: string;
}

export interface CellContext {
  readonly out: string;
  /** The cell's folder, relative to `out` (cellDir). */
  readonly dir: string;
  readonly program: Program;
  readonly programFile: string;
  readonly policy: LoadedPolicy;
  readonly args: readonly string[];
  readonly manifest: Partial<AgentManifest>;
  readonly tools?: ToolRegistry;
  /** The cell's kernel limits (they may raise the defaults) and its wall time. */
  readonly limits: LimitRequest & { readonly wallMs: number };
}

const EXEC_NR = SYSCALL_NUMBERS.SYS_EXEC;

function bucket(ms: number): number {
  const at = LATENCY_BUCKETS_MS.findIndex((bound) => ms <= bound);
  return at === -1 ? LATENCY_BUCKETS_MS.length - 1 : at;
}

/**
 * cellDir is the folder of the cell at `index` (0-based) of `total`: its
 * number in the matrix, then its id with the separators made safe for a
 * reader. The number keeps it the cell's alone: the safe id is not (programs
 * a and a_b under policies b_c and c both made a_b_c, and the second cell
 * found the first's recording there).
 */
export function cellDir(index: number, total: number, id: string): string {
  const n = String(index + 1).padStart(Math.max(4, String(total).length), '0');
  return join('cells', `${n}-${id.replace(/[^A-Za-z0-9._-]+/g, '_')}`);
}

/** runCell runs one cell to its end and describes it. */
export async function runCell(plan: CellPlan, ctx: CellContext): Promise<CellResult> {
  const dir = ctx.dir;
  // The policy's decisions on the children's calls go on the cell's tape too (the recording is made just below, before any spawn).
  let taping: RunRecording | undefined;
  const log = new MemoryDecisionLog();
  const recorder = observed(log, (entry) => taping?.decided(entry));
  // The cell's limits are the kernel's (as agentctl run --limit gives them): they may raise its defaults.
  const kernel = new Kernel({ policy: ctx.policy, recorder, approver: fixedApprover(false), limits: ctx.limits, stdout: () => {}, stderr: () => {}, ...(ctx.tools ? { tools: ctx.tools } : {}) });
  const signals: Record<string, number> = {};
  const sent = (name: string) => void (signals[name] = (signals[name] ?? 0) + 1);
  const watching = kernel.bus.subscribe((event) => sent(event.signal));
  const recording = (taping = recordRun(join(ctx.out, dir), ctx.program, { path: ctx.programFile, argv: ctx.args, ...(ctx.manifest.id !== undefined ? { agentId: ctx.manifest.id } : {}), manifest: ctx.manifest, policyVersion: kernel.engine.version, policySource: kernel.engine.policy.source }));
  const started = performance.now();
  let end;
  let agentId: string;
  try {
    const proc = kernel.spawn(ctx.program, {
      argv: ctx.args,
      manifest: ctx.manifest,
      ...(ctx.manifest.id !== undefined ? { agentId: ctx.manifest.id } : {}),
      limits: ctx.limits,
      stdout: recording.sink(1, () => {}),
      stderr: recording.sink(2, () => {}),
      ...recording.spawn,
    });
    agentId = proc.agentId;
    end = await kernel.wait(proc.pid);
  } catch (err) {
    recording.abandon();
    watching.unsubscribe();
    await kernel.shutdown();
    throw err;
  }
  const ms = performance.now() - started;
  const unsealed = recording.close(end);
  await kernel.shutdown();
  watching.unsubscribe();
  if (unsealed !== undefined) throw new Error(`${join(ctx.out, dir)}: the recording could not be sealed: ${unsealed.message}`);
  const decisions: Record<Effect, number> = { allow: 0, deny: 0, require_approval: 0 };
  // Keyed by rule id, which may be any name (`constructor`, `toString`): no prototype to find one on (an attacker pass).
  const byRule = Object.create(null) as Record<string, Partial<Record<Effect, number>>>;
  // A violation (the policy's on_violation, a broken contract's signal) and a limit end a process without a signal
  // sent through the bus: their signal records say so.
  let violations = 0;
  const delivered = { ...signals };
  for (const record of log.list()) {
    if (record.type === 'contract') violations++;
    if (record.type === 'signal') {
      const name = record.detail.slice(0, record.detail.indexOf(':'));
      if (name === 'SIGPOLICY') violations++;
      if ((delivered[name] ?? 0) > 0) delivered[name]!--;
      else sent(name);
    }
    if (record.type !== 'syscall') continue;
    decisions[record.effect]++;
    const rule = (byRule[record.rule] ??= {});
    rule[record.effect] = (rule[record.effect] ?? 0) + 1;
  }
  const tape = readTape(join(ctx.out, dir));
  const latency: Record<string, number[]> = {};
  const issued = new Map<number, string>();
  const add = (key: string, d: number | undefined) => {
    if (d === undefined) return;
    (latency[key] ??= LATENCY_BUCKETS_MS.map(() => 0))[bucket(d)]!++;
  };
  let calls = 0;
  for (const event of tape.events()) {
    if (event.k === 'c') {
      calls++;
      const nr = decode(event.s);
      const args = event.a.map(decode);
      const key = nr === EXEC_NR && typeof args[0] === 'string' ? `tool ${args[0]}` : syscallName(nr);
      const reply = event.r as { t?: unknown; id?: unknown };
      if (reply.t === 'queued' && typeof reply.id === 'number') issued.set(reply.id, key);
      else add(key, event.d);
    } else if (event.k === 'b') {
      for (const c of event.c) {
        const key = issued.get(c.id);
        if (key === undefined) continue;
        issued.delete(c.id);
        add(key, c.d);
      }
    }
  }
  tape.close();
  return {
    ...plan,
    outcome: end.reason.kind === 'signal' ? 'killed' : end.status === 0 ? 'ok' : 'failed',
    status: end.status,
    reason: endOf(end).reason,
    ms,
    calls,
    decisions,
    byRule,
    signals,
    violations,
    tokens: kernel.engine.counters.tokensUsed(agentId),
    latency,
    tape: dir,
  };
}
