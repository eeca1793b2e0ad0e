/**
 * contextFor builds the SyscallContext of one process: the narrow view of
 * kernel services its syscall handlers call. Process-to-process operations
 * (signal, spawn, wait) check here that the caller may touch the target.
 */
import { sleep } from './sleep.ts';
import { randomBytes } from 'node:crypto';
import { KernelError } from '../abi/errno.ts';
import type { KernelServices, SpawnRequest, SyscallContext, WaitResult } from '../syscalls/context.ts';
import { checkPolicy } from '../syscalls/dispatch.ts';
import { namesOf, setOf } from '../signals/signal-set.ts';
import { parseSignal, type SignalName } from '../signals/signal-table.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';
import type { MaybePromise } from '../vfs/maybe.ts';
import type { Identity } from './capabilities.ts';
import type { FdTable } from './fd-table.ts';
import { deliverUnblocked, sendSignal, type SignalHost } from './process-signals.ts';
import type { Process } from './process.ts';
import type { PolicyEngine } from './policy/engine.ts';
import { processTools } from './tools/process-tools.ts';
import type { ProcessSecret } from './tools/secrets.ts';
import type { ToolRegistry } from './tools/registry.ts';
import { writeTracker } from './tools/write-tracker.ts';

/** ProcessHost is what a process's context needs from the kernel. */
export interface ProcessHost extends SignalHost {
  readonly services: KernelServices;
  readonly tools: ToolRegistry;
  readonly engine: PolicyEngine;
  lookup(pid: number): Process;
  find(pid: number): Process | undefined;
  exitWith(proc: Process, code: number): void;
  spawnChild(parent: Process, identity: Identity, request: SpawnRequest): MaybePromise<number>;
  registeredProgram(name: string): boolean;
  reap(pid: number): Promise<WaitResult>;
  checkpointNow(proc: Process): ReturnType<SyscallContext['checkpoint']>;
  /** liveOf lists the live processes of an agent (they share its VFS, so its write tracker). */
  liveOf(agentId: string): Process[];
}

/**
 * flushAgentWrites reports to the tracker what every live process of the
 * agent has written through fds still open (a child holding its fd open
 * while its parent hands the file to a tool was a way around the guard).
 */
function flushAgentWrites(host: ProcessHost, agentId: string): Promise<void> | undefined {
  const pending: Promise<void>[] = [];
  for (const member of host.liveOf(agentId)) {
    const flushed = member.fds?.flushWritten();
    if (flushed instanceof Promise) pending.push(flushed);
  }
  return pending.length > 0 ? Promise.all(pending).then(() => undefined) : undefined;
}

function signalName(text: string): SignalName {
  const sig = parseSignal(text);
  if (sig === undefined) throw new KernelError('EINVAL', `unknown signal '${text.slice(0, 32)}'`);
  return sig;
}

export function contextFor(host: ProcessHost, proc: Process, identity: Identity, vfs: AgentVfs, files: FdTable, secrets: readonly ProcessSecret[] = []): SyscallContext {
  // Names of created files and directories can carry content too: the write-then-execute guard sees them.
  const named = (path: string) => writeTracker(vfs).addName(path, (ns) => proc.lineage.charge(ns));
  const ctx: SyscallContext = {
    pid: proc.pid,
    agentId: proc.agentId,
    identity,
    fs: {
      resolve: (input) => vfs.resolve(input),
      stat: (path) => vfs.stat(path),
      readdir: (path) => vfs.readdir(path),
      readdirPage: (path, after, limit) => vfs.readdirPage(path, after, limit),
      mkdir(path, recursive) {
        named(path);
        return vfs.mkdir(path, recursive);
      },
      unlink: (path) => vfs.unlink(path),
    },
    files: {
      open(path, mode) {
        if (mode !== 'r') named(path);
        return files.open(path, mode);
      },
      read: (fd, length, cancel) => files.read(fd, length, cancel),
      write: (fd, data, cancel) => files.write(fd, data, cancel),
      close: (fd) => files.close(fd),
      pipe: () => files.pipe(),
    },
    tools: processTools(host.tools, { pid: proc.pid, agentId: proc.agentId, addTokens: (n) => host.engine.addTokens(proc.agentId, n), openStream: () => files.openStream(), secrets, charge: (ns) => proc.lineage.charge(ns) }, () => {
      const tracker = writeTracker(vfs);
      const flushed = flushAgentWrites(host, proc.agentId);
      if (flushed !== undefined) tracker.pendingUntil(flushed);
      return tracker;
    }),
    alive: () => proc.exit === undefined,
    exit: (code) => host.exitWith(proc, code),
    violation: (signal, why) => host.die(proc, parseSignal(signal) ?? 'SIGPOLICY', why),
    logged: (bytes) => proc.lineage.logged(bytes),
    checkPolicy: (name, args) => checkPolicy(host.services, ctx, name, args),
    signal(pid, text) {
      const sig = signalName(text);
      const target = host.lookup(pid);
      if (target.exit !== undefined) throw new KernelError('ESRCH', `process ${pid} has exited`);
      // Decided with the call when the target existed then; a pid that came to be only since (the call waited for an
      // approval, or for the record) is checked again here, so no guess at the next pid reaches another agent's process.
      const mine = target.pid === proc.pid || target.ppid === proc.pid;
      if (!mine && !identity.capabilities.has('signal:any')) throw new KernelError('EPERM', `pid ${pid} is not a child of pid ${proc.pid} (needs signal:any)`);
      return sendSignal(host, target, sig, proc.pid);
    },
    kinOf(pid) {
      const target = host.find(pid);
      if (target === undefined || target.exit !== undefined) return undefined;
      return target.pid === proc.pid ? 'self' : target.ppid === proc.pid ? 'child' : 'other';
    },
    sigaction(text, disposition) {
      const sig = signalName(text);
      if (!proc.signals.setDisposition(sig, disposition)) throw new KernelError('EINVAL', `${sig} cannot be caught or ignored`);
      if (disposition === 'ignore') proc.signals.clear(sig);
      return sig;
    },
    sigprocmask(how, names) {
      const set = setOf(names.map(signalName));
      const current = proc.signals.mask;
      proc.signals.setMask(how === 'block' ? current | set : how === 'unblock' ? current & ~set : set);
      deliverUnblocked(host, proc);
      return namesOf(proc.signals.mask);
    },
    registeredProgram: (name) => host.registeredProgram(name),
    spawn: (request) => host.spawnChild(proc, identity, request),
    wait(pid) {
      let child: Process | undefined;
      try {
        child = host.lookup(pid);
      } catch {
        child = undefined;
      }
      if (child === undefined || child.ppid !== proc.pid) throw new KernelError('ECHILD', `pid ${pid} is not a child of pid ${proc.pid}`);
      return host.reap(pid);
    },
    checkpoint: () => host.checkpointNow(proc),
    sleep,
    cancel: (id) => proc.sandbox?.cancel(id) ?? false,
    randomBytes: (length) => new Uint8Array(randomBytes(length)),
  };
  return ctx;
}
