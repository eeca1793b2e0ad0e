/**
 * Sandbox: how one command tool's calls run under bubblewrap. Each call gets
 *
 *   - the read-only system (sandbox-mounts.ts), the tool's own directory
 *     (its `cwd`, where the process starts), the program and any
 *     `read_only` paths bound read-only at their host paths;
 *   - a private scratch folder at /tmp (HOME and TMPDIR point there), the
 *     only writable place: a tmpfs of `scratch_mib`, made for the call and
 *     gone with it (nothing is written to the host's disks);
 *   - the hidden paths (the kernel's state dir, token file, decision log,
 *     configuration file) covered wherever a bound directory would show them;
 *   - new user, pid, IPC, UTS, cgroup and network namespaces (`--unshare-all`;
 *     `network: true` keeps the host's network, loopback included), no
 *     further user namespaces, no capabilities, a new session (no terminal to
 *     inject input into), death with the kernel, and when the call ends the
 *     pid namespace's end takes every process the tool started with it;
 *   - a clean environment: PATH (the system's, unless the tool sets one),
 *     HOME, TMPDIR and the variables the tool declares;
 *   - rlimits set by prlimit before bwrap starts, so they bind every process:
 *     address space (`memory_mib`), CPU seconds (`cpu_seconds`: SIGXCPU, then
 *     SIGKILL a second later) and no core files.
 */
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import { findProgram, type SandboxHost } from './sandbox-host.ts';
import { hiddenAbove, hideArgs, realOrUndefined, SANDBOX_PATH, systemMounts, systemPaths, within, type Bind } from './sandbox-mounts.ts';

export interface SandboxSettings {
  /** Keep the host's network (default false: a network namespace with only its own loopback). */
  readonly network: boolean;
  /** Address space of each process, MiB (RLIMIT_AS). */
  readonly memoryMib: number;
  /** CPU time of each process, seconds (RLIMIT_CPU). */
  readonly cpuSeconds: number;
  /** Size of the call's scratch folder (/tmp, a tmpfs), MiB. */
  readonly scratchMib: number;
  /** More host paths (absolute) shown read-only. */
  readonly readOnly: readonly string[];
}

/** SANDBOX_DEFAULTS: no network; 2 GiB of address space (Node needs about 1.2 GiB just to start); 10 CPU seconds; 64 MiB of scratch. */
export const SANDBOX_DEFAULTS: Omit<SandboxSettings, 'readOnly'> = { network: false, memoryMib: 2048, cpuSeconds: 10, scratchMib: 64 };

/** Paths the sandbox makes itself: a bound path may not be one of them or above them (nor inside /proc or /dev). */
const RESERVED = ['/tmp', '/proc', '/dev'];
const SIGXCPU = 24;
const SIGKILL = 9;
/** Signals a program gets when an allocation fails under RLIMIT_AS (a null pointer used, abort()). */
const MEMORY_SIGNALS = new Set([6, 7, 11]);
const OUT_OF_MEMORY = /MemoryError|out of memory|Cannot allocate memory|Failed to allocate|bad_alloc|ENOMEM|heap limit/i;

export interface SandboxOptions {
  readonly host: SandboxHost;
  /** argv: program (absolute, or a name looked up on the sandbox's PATH) and fixed arguments. */
  readonly command: readonly string[];
  /** The tool's own directory, absolute: bound read-only, where the process starts. */
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly settings: SandboxSettings;
  /** Host paths no tool may see (the kernel's state). */
  readonly hide?: readonly string[];
}

function executable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

interface Plan {
  readonly host: SandboxHost;
  /** Program (resolved) and fixed arguments. */
  readonly command: readonly string[];
  readonly binds: readonly Bind[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly settings: SandboxSettings;
  readonly hidden: readonly string[];
}

/** Sandbox is a checked plan for running one tool's calls; only Sandbox.prepare makes one. */
export class Sandbox {
  readonly settings: SandboxSettings;
  readonly #plan: Plan;

  private constructor(plan: Plan) {
    this.#plan = plan;
    this.settings = plan.settings;
  }

  /**
   * Sandbox.prepare checks a tool's sandbox once, when the registry is built.
   * Errors are KernelErrors whose message starts with the configuration
   * field: ENOENT for a program not found (on the sandbox's PATH for a bare
   * name), a cwd or a `read_only` path that does not exist; EACCES when one
   * of them lies inside a hidden path; EINVAL for a relative path.
   */
  static prepare(options: SandboxOptions): Sandbox {
    const { settings } = options;
    const [name, ...fixed] = options.command;
    if (name === undefined) throw new KernelError('EINVAL', 'command: is empty');
    if (!isAbsolute(options.cwd)) throw new KernelError('EINVAL', `cwd: ${options.cwd} is not an absolute path`);
    const cwd = realOrUndefined(options.cwd);
    if (cwd === undefined || !statSync(cwd).isDirectory()) throw new KernelError('ENOENT', `cwd: ${options.cwd} is not a directory`);
    const hidden = [...(options.hide ?? [])];
    const binds: Bind[] = [];
    const bind = (field: string, b: Bind) => {
      if (RESERVED.some((r) => within(r, b.dest)) || within(b.dest, '/proc') || within(b.dest, '/dev')) {
        throw new KernelError('EINVAL', `${field}: ${b.dest} would cover the sandbox's own /tmp, /proc or /dev; give a directory of the tool's own`);
      }
      const above = hiddenAbove(b, hidden);
      if (above !== undefined) throw new KernelError('EACCES', `${field}: ${b.dest} lies inside ${above}, which is hidden from tools`);
      binds.push(b);
    };
    bind('cwd', { real: cwd, dest: options.cwd });
    settings.readOnly.forEach((path, i) => {
      const real = isAbsolute(path) ? realOrUndefined(path) : undefined;
      if (real === undefined) throw new KernelError('ENOENT', `sandbox.read_only[${i}]: ${path} does not exist`);
      bind(`sandbox.read_only[${i}]`, { real, dest: path });
    });
    const path = options.env?.PATH ?? SANDBOX_PATH;
    const program = name.includes('/') ? resolve(options.cwd, name) : findProgram(name, path);
    if (program === undefined || !executable(program)) {
      throw new KernelError('ENOENT', name.includes('/') ? `command: ${program} is not an executable file` : `command: '${name}' is not on the sandbox's PATH (${path}); give its absolute path`);
    }
    // The program is visible at the path it is run by and at its real path (a link into a directory not bound).
    const visible = () => [...systemPaths(), ...binds];
    const real = realOrUndefined(program)!;
    if (!visible().some((b) => within(real, b.real))) bind('command', { real, dest: real });
    if (!visible().some((b) => within(program, b.dest))) bind('command', { real, dest: program });
    if (settings.network) {
      // A resolver configuration that is a link out of /etc (systemd-resolved's stub) comes along.
      const resolv = realOrUndefined('/etc/resolv.conf');
      if (resolv !== undefined && !visible().some((b) => within(resolv, b.real))) bind('sandbox.network', { real: resolv, dest: resolv });
    }
    const env = { PATH: SANDBOX_PATH, HOME: '/tmp', TMPDIR: '/tmp', ...options.env };
    return new Sandbox({ host: options.host, command: [program, ...fixed], binds, cwd: options.cwd, env, settings, hidden });
  }

  /**
   * argv returns the program and arguments that run the command in the
   * sandbox. The hidden paths are looked at again (one may have appeared
   * since): EACCES if a bound path now lies inside one.
   */
  argv(): string[] {
    const { host, settings, binds, hidden, cwd, env, command } = this.#plan;
    const args = [`--as=${settings.memoryMib * 1024 * 1024}`, `--cpu=${settings.cpuSeconds}:${settings.cpuSeconds + 1}`, '--core=0', '--', host.bwrap];
    args.push(...systemMounts(), '--size', String(settings.scratchMib * 1024 * 1024), '--tmpfs', '/tmp');
    for (const b of binds) args.push('--ro-bind', b.real, b.dest);
    args.push(...hideArgs(binds, hidden), '--remount-ro', '/', '--chdir', cwd);
    args.push('--unshare-all', '--unshare-user', '--disable-userns', ...(settings.network ? ['--share-net'] : []));
    args.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--clearenv');
    for (const [key, value] of Object.entries(env)) args.push('--setenv', key, value);
    args.push('--', ...command);
    return [host.prlimit, ...args];
  }

  /**
   * explainExit names what stopped a sandboxed call that exited with `code`
   * (bwrap reports a signal N as 128 + N): a sandbox that did not start, the
   * CPU limit (ETIMEDOUT), a signal (with the memory limit when it is one an
   * allocation failure brings), running out of memory as the program's own
   * message says it. Undefined for an ordinary failure.
   */
  explainExit(tool: string, code: number, stderr: string): KernelError | undefined {
    const { settings } = this;
    const memory = `its memory limit is ${settings.memoryMib} MiB of address space`;
    const tail = stderr ? `: ${stderr}` : '';
    if (code === 1 && /^(bwrap|prlimit): /.test(stderr)) return new KernelError('EIO', `tool '${tool}': the sandbox did not start: ${stderr}`);
    if (code === 128 + SIGXCPU) return new KernelError('ETIMEDOUT', `tool '${tool}' used up its CPU limit of ${settings.cpuSeconds} s and was stopped (SIGXCPU)`);
    if (code === 128 + SIGKILL) return new KernelError('EIO', `tool '${tool}' was killed (SIGKILL): past its CPU limit of ${settings.cpuSeconds} s, or out of memory`);
    const signal = code > 128 ? Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0] : undefined;
    if (signal !== undefined) return new KernelError('EIO', `tool '${tool}' was killed by ${signal}${MEMORY_SIGNALS.has(code - 128) ? ` (${memory})` : ''}${tail}`);
    if (OUT_OF_MEMORY.test(stderr)) return new KernelError('EIO', `tool '${tool}' ran out of memory (${memory})${tail}`);
    return undefined;
  }
}
