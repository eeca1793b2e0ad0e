/**
 * `agentctl run FILE [-- args]`: boot an embedded kernel (memfs, no daemon),
 * run one program, stream its output, exit with its status. A program that
 * cannot be read or compiled is one line on stderr and status 2.
 */
import { Kernel } from '../../kernel/kernel.ts';
import { programFromFile } from '../../kernel/program.ts';
import { KernelError } from '../../syscalls/errno.ts';

export interface RunOptions {
  json?: boolean;
  memory?: string;
  agent?: string;
}

export async function runCommand(file: string, args: string[], options: RunOptions): Promise<number> {
  const memoryLimitMib = options.memory === undefined ? undefined : Number(options.memory);
  if (memoryLimitMib !== undefined && (!Number.isInteger(memoryLimitMib) || memoryLimitMib < 8)) {
    process.stderr.write(`agentctl: --memory must be a whole number of MiB, at least 8\n`);
    return 2;
  }
  const kernel = new Kernel({ memoryLimitMib });
  let pid: number;
  try {
    pid = kernel.spawn(programFromFile(file), { argv: args, agentId: options.agent }).pid;
  } catch (err) {
    const message = err instanceof KernelError ? err.message : String(err);
    process.stderr.write(`agentctl: ${message}\n`);
    return 2;
  }
  const forward = (signal: 'SIGINT' | 'SIGTERM') => () => {
    try {
      kernel.kill(pid, signal, `operator ${signal}`);
    } catch {
      // already gone
    }
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const record = await kernel.wait(pid);
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  if (record.reason.kind === 'error') process.stderr.write(`${record.reason.error}\n`);
  if (record.reason.kind === 'signal') process.stderr.write(`agentctl: pid ${pid} killed by ${record.reason.signal} (${record.reason.why})\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(record)}\n`);
  return record.status;
}
