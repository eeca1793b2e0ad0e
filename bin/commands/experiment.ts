/**
 * `agentctl experiment run EXP.yaml --out DIR`: run an experiment's matrix
 * (kernel/experiments), each cell a recorded run; write DIR/results.jsonl and
 * DIR/report.html; print a table of what it found (or, with --json, the
 * groups as one JSON object). Progress goes to stderr while it runs, on a
 * terminal. Exit 0 once every cell has run (what the cells did is data), 2
 * for a bad experiment, program, policy, manifest or tools file.
 */
import { join } from 'node:path';
import { planCells, REPORT_FILE, RESULTS_FILE, runExperiment } from '../../kernel/experiments/run.ts';
import { ExperimentError, loadExperiment } from '../../kernel/experiments/spec.ts';
import { summarize, table } from '../../kernel/experiments/summary.ts';
import { loadPolicyFile, PolicyError, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { buildProgramFile } from '../../kernel/program-build.ts';
import type { Program } from '../../kernel/program.ts';
import { buildRegistry, loadToolsConfig, ToolsConfigError } from '../../kernel/tools/config.ts';
import type { ToolRegistry } from '../../kernel/tools/registry.ts';
import { printable } from '../../kernel/terminal-text.ts';
import { KernelError } from '../../abi/errno.ts';
import { readManifest, UsageError } from './run.ts';

export interface ExperimentOptions {
  out: string;
  json?: boolean;
}

export async function experimentRunCommand(file: string, options: ExperimentOptions): Promise<number> {
  let tools: ToolRegistry | undefined;
  try {
    const spec = loadExperiment(file);
    const programs = new Map<string, Program>();
    for (const p of spec.programs) programs.set(p.name, await buildProgramFile(p.file));
    const policies = new Map<string, LoadedPolicy>(spec.policies.map((p) => [p.name, loadPolicyFile(p.file)]));
    const manifest = spec.manifest === undefined ? {} : readManifest(spec.manifest);
    tools = spec.tools === undefined ? undefined : await buildRegistry(loadToolsConfig(spec.tools), {});
    const total = planCells(spec).length;
    const tty = process.stderr.isTTY === true;
    const results = await runExperiment({
      spec,
      out: options.out,
      programs,
      policies,
      manifest,
      ...(tools !== undefined ? { tools } : {}),
      progress: (done, running, all, last) => {
        if (!tty) return;
        const latest = last === undefined ? '' : `; last: ${printable(last.id)} ${last.outcome}`;
        process.stderr.write(`\r\x1b[2Kexperiment ${spec.name}: ${done}/${all} runs done, ${running} running${latest}`);
      },
    });
    if (tty) process.stderr.write(`\r\x1b[2Kexperiment ${spec.name}: ${total} runs done\n`);
    const groups = summarize(results);
    if (options.json) process.stdout.write(`${JSON.stringify({ name: spec.name, runs: results.length, groups, results: join(options.out, RESULTS_FILE), report: join(options.out, REPORT_FILE) })}\n`);
    else process.stdout.write(`${table(groups)}\nresults: ${join(options.out, RESULTS_FILE)}\nreport:  ${join(options.out, REPORT_FILE)}\n`);
    return 0;
  } catch (err) {
    const known = err instanceof ExperimentError || err instanceof KernelError || err instanceof PolicyError || err instanceof UsageError || err instanceof ToolsConfigError;
    process.stderr.write(`agentctl: ${known ? err.message : String(err)}\n`);
    return 2;
  } finally {
    await tools?.close();
  }
}
