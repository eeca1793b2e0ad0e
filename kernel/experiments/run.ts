/**
 * runExperiment runs an experiment's matrix — every program × policy ×
 * repetition — `parallel` cells at a time, each a recorded run in its own
 * kernel (cell.ts), and writes what it found to OUT: results.jsonl (a line a
 * cell, as each ends) and report.html (report.ts). A cell that could not run
 * (its program did not build, say) is a result too, with its reason.
 */
import { appendFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import type { AgentManifest } from '../capabilities.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { Program } from '../program.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import { cellDir, runCell, type CellPlan, type CellResult } from './cell.ts';
import { writeReport } from './report.ts';
import type { ExperimentSpec } from './spec.ts';

export const RESULTS_FILE = 'results.jsonl';
export const REPORT_FILE = 'report.html';

export interface ExperimentInputs {
  readonly spec: ExperimentSpec;
  readonly out: string;
  readonly programs: ReadonlyMap<string, Program>;
  readonly policies: ReadonlyMap<string, LoadedPolicy>;
  readonly manifest: Partial<AgentManifest>;
  readonly tools?: ToolRegistry;
  /** progress is told of every cell that starts and ends. */
  readonly progress?: (done: number, running: number, total: number, last?: CellResult) => void;
}

/** planCells is the matrix in order: program, then policy, then repetition. */
export function planCells(spec: ExperimentSpec): CellPlan[] {
  const cells: CellPlan[] = [];
  for (const program of spec.programs) {
    for (const policy of spec.policies) {
      for (let rep = 1; rep <= spec.repetitions; rep++) cells.push({ id: `${program.name}/${policy.name}/${rep}`, program: program.name, policy: policy.name, rep, adversarial: program.adversarial });
    }
  }
  return cells;
}

/** failedCell is the result of a cell that never ran (in folder `dir`). */
function failedCell(plan: CellPlan, dir: string, why: string): CellResult {
  return { ...plan, outcome: 'failed', status: 2, reason: why, ms: 0, calls: 0, decisions: { allow: 0, deny: 0, require_approval: 0 }, byRule: {}, signals: {}, violations: 0, tokens: 0, latency: {}, tape: dir };
}

/** runExperiment runs every cell; EEXIST if OUT already holds an experiment's results. */
export async function runExperiment(inputs: ExperimentInputs): Promise<CellResult[]> {
  const { spec, out } = inputs;
  mkdirSync(out, { recursive: true });
  if (readdirSync(out).length > 0) throw new KernelError('EEXIST', `${out} is not empty; write an experiment into a new folder`);
  const plans = planCells(spec);
  const results: CellResult[] = Array.from({ length: plans.length });
  let next = 0;
  let done = 0;
  let running = 0;
  const files = new Map(spec.programs.map((p) => [p.name, p.file]));
  const worker = async (): Promise<void> => {
    while (next < plans.length) {
      const at = next++;
      const plan = plans[at]!;
      const dir = cellDir(at, plans.length, plan.id);
      running++;
      inputs.progress?.(done, running, plans.length);
      let result: CellResult;
      try {
        result = await runCell(plan, {
          out,
          dir,
          program: inputs.programs.get(plan.program)!,
          programFile: files.get(plan.program)!,
          policy: inputs.policies.get(plan.policy)!,
          args: spec.args,
          manifest: inputs.manifest,
          ...(inputs.tools ? { tools: inputs.tools } : {}),
          limits: spec.limits,
        });
      } catch (err) {
        result = failedCell(plan, dir, `could not run: ${err instanceof Error ? err.message : String(err)}`);
      }
      results[at] = result;
      appendFileSync(join(out, RESULTS_FILE), `${JSON.stringify(result)}\n`);
      running--;
      done++;
      inputs.progress?.(done, running, plans.length, result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.parallel, plans.length) }, worker));
  writeFileSync(join(out, REPORT_FILE), writeReport(spec, results));
  return results;
}
