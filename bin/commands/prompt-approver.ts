/**
 * promptApprover asks the operator about each require_approval call, in the
 * manner of Deno's permission prompt: y = allow once, n = deny, A = allow
 * this rule for the rest of the run. Questions are asked one at a time on
 * stderr; answers are read line by line from stdin (a terminal, or a pipe).
 */
import { createInterface, type Interface } from 'node:readline';
import type { ApprovalAnswer } from '../../syscalls/context.ts';
import type { Approver, PendingApproval } from '../../kernel/approvals.ts';
import { printable } from '../../kernel/terminal-text.ts';

export function promptApprover(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stderr): { approver: Approver; close(): void } {
  let rl: Interface | undefined;
  const lines: string[] = [];
  const readers: ((line: string | undefined) => void)[] = [];
  let ended = false;
  const open = () => {
    if (rl) return;
    rl = createInterface({ input, terminal: false });
    rl.on('line', (line) => (readers.length > 0 ? readers.shift()!(line) : lines.push(line)));
    rl.on('close', () => {
      ended = true;
      for (const r of readers.splice(0)) r(undefined);
    });
  };
  const nextLine = (): Promise<string | undefined> => {
    open();
    if (lines.length > 0) return Promise.resolve(lines.shift());
    if (ended) return Promise.resolve(undefined);
    return new Promise((resolve) => readers.push(resolve));
  };
  const allowedForRun = new Set<string>();
  let queue: Promise<unknown> = Promise.resolve();
  const ask = async (a: PendingApproval): Promise<ApprovalAnswer> => {
    if (allowedForRun.has(a.rule)) return { approved: true, approver: 'operator', reason: `rule ${a.rule} allowed for this run` };
    // What the agent chose (its id, path or tool) is escaped: it cannot fake the question's lines (terminal-text.ts).
    const target = printable(a.path ?? a.tool ?? '');
    output.write(`\n⚠  agent ${printable(a.agentId)} (pid ${a.pid}) asks for ${printable(a.syscall)}${target ? ` on ${target}` : ''}\n   rule ${printable(a.rule)}: ${printable(a.reason)}\n   Allow? [y]es once / [n]o / [A]llow this rule for the run > `);
    for (;;) {
      const line = await nextLine();
      if (line === undefined) return { approved: false, approver: 'operator', reason: 'no answer (end of input)' };
      const answer = line.trim();
      if (answer === 'y' || answer === 'yes') return { approved: true, approver: 'operator', reason: 'allowed once at the prompt' };
      if (answer === 'n' || answer === 'no' || answer === '') return { approved: false, approver: 'operator', reason: 'denied at the prompt' };
      if (answer === 'A') {
        allowedForRun.add(a.rule);
        return { approved: true, approver: 'operator', reason: `rule ${a.rule} allowed for this run` };
      }
      output.write('   please answer y, n or A > ');
    }
  };
  return {
    approver: (a) => {
      const next = queue.then(() => ask(a));
      queue = next.catch(() => undefined);
      return next;
    },
    close: () => rl?.close(),
  };
}
