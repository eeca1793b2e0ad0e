/**
 * Command tools: a program on the host that the operator declares in the
 * configuration (`tools.commands`). A call starts `command[0]` with the fixed
 * arguments `command[1..]` (no shell), writes the validated arguments as one
 * JSON document to its stdin, and returns what it printed on stdout (parsed
 * as JSON when `output: json`). Exit status 0 is success; any other status is
 * EIO with the tail of stderr. The child sees only PATH and the environment
 * the operator lists (never the kernel's own variables, which may hold keys).
 * On timeout the child is killed (SIGKILL); past the output limit too.
 */
import { spawn } from 'node:child_process';
import { KernelError } from '../../syscalls/errno.ts';
import type { JsonValue } from '../../syscalls/schema.ts';
import type { JsonSchema, Risk, ToolSpec } from './registry.ts';

export interface CommandToolOptions {
  readonly name: string;
  readonly description: string;
  /** argv: program and fixed arguments. */
  readonly command: readonly string[];
  readonly inputSchema: JsonSchema;
  readonly risk: Risk;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** Arguments whose text the program executes (code, a command line, a script). */
  readonly executes?: readonly string[];
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** `text` (default): output is `{ stdout }`; `json`: stdout parsed as JSON. */
  readonly output?: 'text' | 'json';
}

const STDERR_TAIL = 2000;

export function commandTool(options: CommandToolOptions): ToolSpec {
  const [program, ...fixed] = options.command;
  if (program === undefined) throw new KernelError('EINVAL', `tool '${options.name}': command is empty`);
  return {
    name: options.name,
    description: options.description,
    inputSchema: options.inputSchema,
    risk: options.risk,
    timeoutMs: options.timeoutMs,
    maxOutputBytes: options.maxOutputBytes,
    ...(options.executes ? { executes: options.executes } : {}),
    source: 'command',
    run(args, call) {
      return new Promise<JsonValue>((resolve, reject) => {
        const child = spawn(program, fixed, {
          cwd: options.cwd,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
          stdio: ['pipe', 'pipe', 'pipe'],
          signal: call.signal,
          killSignal: 'SIGKILL',
        });
        const out: Buffer[] = [];
        let outBytes = 0;
        let err = '';
        let tooBig = false;
        child.stdout.on('data', (chunk: Buffer) => {
          outBytes += chunk.byteLength;
          if (outBytes > call.maxOutputBytes) {
            tooBig = true;
            child.kill('SIGKILL');
          } else out.push(chunk);
        });
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (err = (err + chunk).slice(-STDERR_TAIL)));
        child.stdin.on('error', () => undefined);
        child.on('error', (e) => {
          if (call.signal.aborted) return reject(call.signal.reason);
          reject(new KernelError('EIO', `tool '${options.name}': cannot start ${program}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
        });
        child.on('close', (code, signal) => {
          if (call.signal.aborted) return reject(call.signal.reason);
          if (tooBig) return reject(new KernelError('EFBIG', `tool '${options.name}' printed more than its limit of ${call.maxOutputBytes} bytes`));
          if (code !== 0) return reject(new KernelError('EIO', `tool '${options.name}' exited ${code ?? signal}${err.trim() ? `: ${err.trim()}` : ''}`));
          const stdout = Buffer.concat(out).toString('utf8');
          if (options.output !== 'json') return resolve({ stdout });
          try {
            resolve(JSON.parse(stdout) as JsonValue);
          } catch {
            reject(new KernelError('EIO', `tool '${options.name}' printed output that is not JSON`));
          }
        });
        child.stdin.end(JSON.stringify(args));
      });
    },
  };
}
