/**
 * Command tools: a program on the host that the operator declares in the
 * configuration (`tools.commands`). A call starts `command[0]` with the fixed
 * arguments `command[1..]` (no shell), writes the validated arguments as one
 * JSON document to its stdin, and returns what it printed on stdout (parsed
 * as JSON when `output: json`). Exit status 0 is success; any other status is
 * EIO with the tail of stderr. On timeout the child is killed (SIGKILL); past
 * the output limit too, on stdout or on stderr (each pipe the kernel reads
 * costs its event loop, what the child writes there is bounded alike: EFBIG).
 *
 * This is where agent-chosen input reaches host code, so every call runs in a
 * Sandbox (sandbox.ts: bubblewrap, read-only system, a scratch folder, no
 * network, CPU and memory limits, the kernel's state hidden). `unconfined`
 * (`sandbox: false` in the configuration) runs the program as a plain child
 * process with the kernel's own rights: only PATH and the listed environment
 * (never the kernel's own variables, which may hold keys), nothing else held
 * back.
 */
import { spawn } from 'node:child_process';
import { KernelError } from '../../abi/errno.ts';
import type { JsonValue } from '../../syscalls/schema.ts';
import { CallSlots } from './call-slots.ts';
import type { JsonSchema, Risk, ToolInvocation, ToolSpec } from './registry.ts';
import type { Sandbox } from './sandbox.ts';

export interface CommandToolOptions {
  readonly name: string;
  readonly description: string;
  /** argv: program and fixed arguments (unconfined; a Sandbox holds its own). */
  readonly command: readonly string[];
  readonly inputSchema: JsonSchema;
  readonly risk: Risk;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** Arguments whose text the program executes (code, a command line, a script). */
  readonly executes?: readonly string[];
  /** Where an unconfined program starts (a Sandbox holds its own). */
  readonly cwd?: string;
  /** Variables an unconfined program gets besides PATH (a Sandbox holds its own). */
  readonly env?: Readonly<Record<string, string>>;
  /** `text` (default): output is `{ stdout }`; `json`: stdout parsed as JSON. */
  readonly output?: 'text' | 'json';
  /** The sandbox every call runs in, or `unconfined` (unsafe: a plain child process). */
  readonly sandbox: Sandbox | 'unconfined';
  /** The most calls that run at once (call-slots.ts; DEFAULT_MAX_CONCURRENT). */
  readonly maxConcurrent?: number;
}

const STDERR_TAIL = 2000;

interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env: Readonly<Record<string, string>>;
}

/** commandTool makes the tool. EINVAL if the command is empty. */
export function commandTool(options: CommandToolOptions): ToolSpec {
  const [program, ...fixed] = options.command;
  if (program === undefined) throw new KernelError('EINVAL', `tool '${options.name}': command is empty`);
  const { sandbox } = options;
  const slots = new CallSlots(options.maxConcurrent);
  return {
    name: options.name,
    description: options.description,
    inputSchema: options.inputSchema,
    risk: options.risk,
    timeoutMs: options.timeoutMs,
    maxOutputBytes: options.maxOutputBytes,
    ...(options.executes ? { executes: options.executes } : {}),
    source: 'command',
    async run(args, call) {
      // Held until the process is gone (runOnce settles on 'close', after a kill too); waiting counts against the call's time.
      const release = await slots.take(call.caller.agentId, call.signal);
      try {
        if (sandbox === 'unconfined') {
          const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env };
          return await runOnce(options, { file: program, args: fixed, ...(options.cwd ? { cwd: options.cwd } : {}), env }, args, call);
        }
        const [file, ...rest] = sandbox.argv();
        return await runOnce(options, { file: file!, args: rest, env: {} }, args, call, sandbox);
      } finally {
        release();
      }
    },
  };
}

/** runOnce starts one process, feeds it the arguments and turns how it ended into output or a KernelError. */
function runOnce(options: CommandToolOptions, launch: Launch, input: JsonValue, call: ToolInvocation, sandbox?: Sandbox): Promise<JsonValue> {
  const name = options.name;
  return new Promise<JsonValue>((resolve, reject) => {
    const child = spawn(launch.file, launch.args, {
      ...(launch.cwd ? { cwd: launch.cwd } : {}),
      env: launch.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: call.signal,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    // stderr's last chunks, STDERR_TAIL bytes or a little more, decoded once at the end.
    const errTail: Buffer[] = [];
    let errTailBytes = 0;
    let errBytes = 0;
    let tooBig: 'stdout' | 'stderr' | undefined;
    const over = (pipe: 'stdout' | 'stderr') => {
      tooBig ??= pipe;
      child.kill('SIGKILL');
    };
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.byteLength;
      if (outBytes > call.maxOutputBytes) over('stdout');
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      errBytes += chunk.byteLength;
      if (errBytes > call.maxOutputBytes) return over('stderr');
      errTail.push(chunk);
      errTailBytes += chunk.byteLength;
      while (errTailBytes - errTail[0]!.byteLength >= STDERR_TAIL) errTailBytes -= errTail.shift()!.byteLength;
    });
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => {
      // Aborted (timed out): the child is being killed; 'close' follows once it and its sandbox are gone.
      if (call.signal.aborted) return;
      reject(new KernelError('EIO', `tool '${name}': cannot start ${launch.file}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    child.on('close', (code, signal) => {
      if (call.signal.aborted) return reject(call.signal.reason);
      if (tooBig !== undefined) return reject(new KernelError('EFBIG', `tool '${name}' printed more than its limit of ${call.maxOutputBytes} bytes${tooBig === 'stderr' ? ' on stderr' : ''}`));
      if (code !== 0) {
        const err = Buffer.concat(errTail).subarray(-STDERR_TAIL).toString('utf8');
        const explained = code === null ? undefined : sandbox?.explainExit(name, code, err.trim());
        return reject(explained ?? new KernelError('EIO', `tool '${name}' exited ${code ?? signal}${err.trim() ? `: ${err.trim()}` : ''}`));
      }
      const stdout = Buffer.concat(out).toString('utf8');
      if (options.output !== 'json') return resolve({ stdout });
      try {
        resolve(JSON.parse(stdout) as JsonValue);
      } catch {
        reject(new KernelError('EIO', `tool '${name}' printed output that is not JSON`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}
