/**
 * Spawner is the spawn path of the kernel: it admits a process (the
 * kernel's and the tree's caps), gives it a pid, an identity, limits, its
 * agent's VFS tree, an fd table and a sandbox whose syscalls go through the
 * gate and the dispatcher; records the spawn (a spawn the log cannot take
 * does not happen), puts the process in the table and starts its program
 * once its tree is ready. Building isolates is synchronous work: spawnAsync
 * builds one per event-loop turn and compiles on the isolate's thread.
 */
import { KernelError } from '../abi/errno.ts';
import { ARG_LIMITS, ARGUMENT_BOUNDS } from '../abi/limits.ts';
import type { KernelServices } from '../syscalls/context.ts';
import { dispatch } from '../syscalls/dispatch.ts';
import { FD_ARGUMENTS, READDIR_PAGE, SYSCALL_NUMBERS } from '../syscalls/table.ts';
import { recordFor } from '../syscalls/records.ts';
import { printable } from './terminal-text.ts';
import { DATA_SYSCALLS } from './async-calls.ts';
import { parseSignal, type SignalName } from '../signals/signal-table.ts';
import { bundleName } from './agent-stack.ts';
import type { AgentTrees, TreeQuota } from './agent-trees.ts';
import { AUTONOMY_LEVELS, type Autonomies, isAutonomy } from './autonomy.ts';
import { spawnIdentity } from './capabilities.ts';
import { readCheckpoint, restoreInto } from './checkpoint.ts';
import type { CpuWatchdog } from './cpu-watchdog.ts';
import { FdTable } from './fd-table.ts';
import type { KernelOptions, SpawnOptions } from './kernel-options.ts';
import type { ProcessLimits } from './limits.ts';
import { Lineage } from './lineage.ts';
import { contextFor, type ProcessHost } from './process-context.ts';
import { terminate, type ExitHost } from './process-exit.ts';
import { kick } from './process-signals.ts';
import { Process } from './process.ts';
import { chargedCpu } from './sandbox-boot.ts';
import type { ProcessTable } from './process-table.ts';
import type { Program } from './program.ts';
import { commonPaths, layersFor } from './program-layers.ts';
import type { BootRecord, ProcessSandbox, SandboxEnd, SandboxHooks } from './process-sandbox.ts';
import type { BoundaryTape } from './run-tape/boundary-tape.ts';
import { syscallGate, type GateHost } from './syscall-gate.ts';
import { processSecrets } from './tools/secrets.ts';
import { writeTracker } from './tools/write-tracker.ts';
import type { LeaseHooks } from './hosts/leases.ts';
import { processLeases } from './process-leases.ts';
import { processOutput } from './stream-output.ts';

/** Prepared is a spawn admitted and built: commit() puts it in the table and starts it, abandon(err) undoes it (err: why). */
interface Prepared {
  readonly sandbox: ProcessSandbox;
  commit(): Process;
  abandon(err: unknown): void;
}

/** SpawnHost is what spawning needs of the kernel. */
export interface SpawnHost {
  readonly options: Pick<KernelOptions, 'pids' | 'stdout' | 'stderr'>;
  readonly maxProcesses: number;
  readonly table: ProcessTable;
  readonly trees: AgentTrees;
  readonly autonomies: Autonomies;
  readonly cpu: CpuWatchdog;
  readonly gate: GateHost;
  readonly exits: ExitHost;
  readonly services: KernelServices;
  /** What a process's syscall context calls back into (the kernel). */
  readonly processes: ProcessHost;
  policyVersion(): string;
  /** The limits a spawn with `options` gets: the kernel's, lowered by the spawn's and the policy's. */
  limitsFor(options: SpawnOptions): ProcessLimits;
  quota(limits: ProcessLimits): TreeQuota;
  /** sandbox makes a process's sandbox: in the kernel's process, or on a sandbox host. */
  sandbox(program: Program, heapMib: number, boot: BootRecord, hooks: SandboxHooks, tape: BoundaryTape | undefined): ProcessSandbox;
  /** ended is told how a process's sandbox ended. */
  ended(proc: Process, how: SandboxEnd): void;
  /** stuck is told that a process's isolate, in the kernel's own process, kept a thread running after its disposal (SandboxHooks.stuck). */
  stuck(proc: Process, why: string): void;
  die(proc: Process, signal: SignalName, why: string): void;
  /** revokeLeases takes back every sandbox host's leases (kernel/hosts/leases.ts). */
  revokeLeases(): void;
}

/** leasing is the `leases` member of a sandbox's hooks, when there are any. */
function leasing(leases: LeaseHooks | undefined): { leases?: LeaseHooks } {
  return leases === undefined ? {} : { leases };
}

export class Spawner {
  private readonly host: SpawnHost;
  /** Spawns admitted and not yet in the table (or abandoned). */
  private pending = 0;
  /** The chain of isolate builds, one per event-loop turn. */
  private creations: Promise<void> = Promise.resolve();
  private nextPid = 1;

  constructor(host: SpawnHost) {
    this.host = host;
  }

  /** admit checks the kernel-wide and tree-wide process caps for one more process. EAGAIN. */
  admit(parent: Process | undefined): void {
    if (this.host.table.size + this.pending >= this.host.maxProcesses) throw new KernelError('EAGAIN', `the kernel holds ${this.host.maxProcesses} processes, its limit`);
    if (parent === undefined) return;
    const lineage = parent.lineage;
    const cap = lineage.limits.children;
    if (cap !== undefined && lineage.descendants + lineage.pendingSpawns >= cap) this.reapOrphans(lineage);
    if (cap !== undefined && lineage.descendants + lineage.pendingSpawns >= cap) {
      throw new KernelError('EAGAIN', `child limit of ${cap} reached for the tree of pid ${lineage.rootPid} (exited children count until they are waited for)`);
    }
  }

  /**
   * reapOrphans reaps the tree's exited processes whose parent has ended:
   * nobody can wait for them, so the kernel does, as init does, when the
   * tree needs their room (found by an attacker pass: a child's 60 orphans,
   * exited, held its parent's spawns at the cap for good). Until then they
   * stay for the operator to see, and they count: a tree holds at most its
   * cap of processes, exited or not.
   */
  private reapOrphans(lineage: Process['lineage']): void {
    // Removing a member of the set while iterating it is defined: the iteration goes on with the next one.
    for (const pid of lineage.members) {
      if (pid === lineage.rootPid) continue;
      const member = this.host.table.get(pid);
      if (member === undefined || member.exit === undefined) continue;
      const parent = this.host.table.get(member.ppid);
      if (parent !== undefined && parent.exit === undefined) continue;
      if (this.host.table.remove(member)) this.host.trees.unhold(member.agentId);
    }
  }

  /**
   * spawn starts `program` as a new process and returns it at once; the
   * program is compiled here, on the calling thread (a program the operator
   * handed over). EINVAL for a bad agent id or manifest, EPERM for a
   * capability the parent lacks, EAGAIN past a process cap, ENOEXEC for a
   * program that does not compile, ENOENT for a bad restore dir.
   */
  spawn(program: Program, options: SpawnOptions = {}): Process {
    const made = this.prepare(program, options);
    try {
      made.sandbox.compile();
    } catch (err) {
      made.abandon(err);
      throw err;
    }
    return made.commit();
  }

  /** nextCreation resolves when a spawn may build its isolate (a few ms of synchronous work): one per turn, so a burst of spawns never holds the event loop. */
  private nextCreation(): Promise<void> {
    const mine = this.creations.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.creations = mine;
    return mine;
  }

  /**
   * spawnAsync is spawn for programs from agents or requests: the isolate is
   * built on a turn of its own and the program compiled on its isolate's
   * thread, leaving the event loop free.
   */
  async spawnAsync(program: Program, options: SpawnOptions = {}): Promise<Process> {
    await this.nextCreation();
    const made = this.prepare(program, options);
    try {
      await made.sandbox.compileAsync();
    } catch (err) {
      made.abandon(err);
      throw err;
    }
    return made.commit();
  }

  /**
   * notStarted records that pid `pid` (of agent `agentId`) was taken by a spawn that failed with `err` before its
   * program started, so that every pid the kernel gave out has a record of its own (an `exit` record: the process
   * never ran). A log that refuses it has its own problem to say why; the spawn fails with `err` all the same.
   */
  private notStarted(pid: number, agentId: string, parent: Process | undefined, err: unknown): void {
    const why = err instanceof KernelError ? `${err.errno}: ${err.message}` : err instanceof Error ? err.message : String(err);
    try {
      // A child's record counts against its tree's log bytes (a spawn the agent asked for: recordFor, as an outcome's).
      recordFor(this.host.services.recorder, parent?.lineage ?? {}, { type: 'exit', pid, agentId, detail: `not started: ${printable(why)}`.slice(0, 1024), policyVersion: this.host.policyVersion() });
    } catch {
      // the log's own failure says why
    }
  }

  /**
   * prepare admits a spawn and builds its process and sandbox; commit() puts it in the table and starts it,
   * abandon(err) undoes it. A spawn that fails once it has taken a pid records that the pid never started.
   */
  private prepare(program: Program, options: SpawnOptions): Prepared {
    // A spawn that names a parent is a child or nothing: were the parent gone, the child would otherwise start as a root of its own.
    const parent = options.ppid === undefined ? undefined : this.host.table.get(options.ppid);
    if (options.ppid !== undefined && (parent === undefined || parent.exit !== undefined)) throw new KernelError('EINTR', `parent pid ${options.ppid} ended before its child could start`);
    this.admit(parent);
    const pid = this.host.options.pids?.() ?? this.nextPid++;
    try {
      return this.build(pid, parent, program, options);
    } catch (err) {
      // Under the parent's agent, or the default id: the one asked for may be the reason it failed (EINVAL).
      this.notStarted(pid, parent?.agentId ?? `agent-${pid}`, parent, err);
      throw err;
    }
  }

  /** build makes pid `pid`'s process and sandbox (prepare). */
  private build(pid: number, parent: Process | undefined, program: Program, options: SpawnOptions): Prepared {
    // A child's capabilities are compiled on the event loop: its tree pays, refused or not.
    const identity =
      parent === undefined
        ? spawnIdentity(pid, options)
        : chargedCpu(
            (ns) => parent.lineage.charge(ns),
            // Bound, not a closure: a closure naming `options` kept them, argv and env included, in the context the
            // process's hooks share, for its whole life (an attacker pass: 124 MiB for 64 children's argv).
            spawnIdentity.bind(undefined, pid, options, { pid: parent.pid, agentId: parent.agentId, identity: this.host.table.identity(parent.pid) }),
          );
    // An agent's first process sets its autonomy from the manifest; its children run at the agent's level.
    const autonomy = options.manifest?.autonomy;
    if (parent === undefined && autonomy !== undefined) {
      if (!isAutonomy(autonomy)) throw new KernelError('EINVAL', `autonomy must be one of ${AUTONOMY_LEVELS.join(', ')}, not '${String(autonomy)}'`);
      this.host.autonomies.set(identity.agentId, autonomy);
    }
    const limits = this.host.limitsFor(options);
    const lineage = parent?.lineage ?? new Lineage(pid, identity.agentId, limits, Date.now());
    const restore = options.restore === undefined ? undefined : readCheckpoint(options.restore, this.host.quota(limits));
    const secrets = processSecrets(options.secrets ?? {}, options.secretPlaceholders);
    // Held from here: a spawn that is abandoned lets go of it (its tree then ages out like any other).
    const vfs = this.host.trees.hold(identity.agentId, this.host.quota(limits));
    const proc = new Process(pid, options.ppid ?? 0, lineage, program.filename, limits, identity.labels);
    const files = new FdTable(vfs, {
      stdin: options.fds?.stdin,
      stdout: options.fds?.stdout ?? FdTable.sink(options.stdout ?? this.host.options.stdout ?? processOutput.stdout),
      stderr: options.fds?.stderr ?? FdTable.sink(options.stderr ?? this.host.options.stderr ?? processOutput.stderr),
      limit: limits.openFiles,
      output: lineage.output,
      onWritten: (content) => writeTracker(vfs).add(content, (ns, onLoop) => lineage.charge(ns, onLoop)),
    });
    const ctx = contextFor(this.host.processes, proc, identity, vfs, files, secrets);
    proc.fds = files;
    let sandbox: ProcessSandbox;
    // Building the isolate is synchronous work on the event loop: the tree that asked for it pays (a spawn+wait loop otherwise ran the loop at ~90% for free).
    const building = performance.now();
    const env = { ...options.env, ...Object.fromEntries(secrets.map((s) => [s.name, s.placeholder])) };
    try {
      sandbox = this.host.sandbox(program, limits.heapMib, { SYS: SYSCALL_NUMBERS, readdirPage: READDIR_PAGE, dataCalls: DATA_SYSCALLS, fdArguments: FD_ARGUMENTS, writeMax: ARG_LIMITS.ioBytes, ...ARGUMENT_BOUNDS, argv: [...(options.argv ?? [])], program: program.filename, ...(program.sourceMap !== undefined ? { bundle: bundleName(program) } : {}), layers: layersFor(program), ...(commonPaths(program) ? { commonPaths: true } : {}), env, pid, ppid: options.ppid ?? 0, agentId: identity.agentId }, {
        syscall: (nr, args, call, mode) => syscallGate(this.host.gate, proc, nr, () => dispatch(this.host.services, ctx, nr, args, call), mode),
        end: (how) => this.host.ended(proc, how),
        stuck: (why) => this.host.stuck(proc, why),
        idle() {
          if (proc.state === 'running') proc.state = 'blocked';
          kick(proc);
        },
        charge: (ns) => lineage.charge(ns),
        // Before anything queued since: they were taken first.
        undelivered: (signals) => proc.handlerQueue.unshift(...signals.flatMap((s) => parseSignal(s) ?? [])),
        ...leasing(processLeases(this.host, proc, ctx)),
      }, options.tape?.({ pid, fds: files, ctx, env, limits }));
    } catch (err) {
      files.closeAll();
      this.host.trees.unhold(identity.agentId);
      throw err;
    } finally {
      lineage.charge((performance.now() - building) * 1e6);
    }
    proc.sandbox = sandbox;
    this.pending++;
    lineage.pendingSpawns++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.pending--;
      lineage.pendingSpawns--;
      return true;
    };
    const abandon = (err: unknown) => {
      if (!settle()) return;
      sandbox.dispose();
      files.closeAll();
      this.host.trees.unhold(identity.agentId);
      // A sandbox that ended before its program started (a catastrophe while it compiled) was recorded by its end.
      if (proc.exit === undefined) this.notStarted(pid, identity.agentId, parent, err);
    };
    return {
      sandbox,
      abandon,
      commit: () => {
        if (proc.exit !== undefined) {
          // Its sandbox ended before the program started (a catastrophe while it compiled): the spawn fails; its end was recorded.
          const err = new KernelError('EIO', `pid ${pid} ended before its program started`);
          abandon(err);
          throw err;
        }
        if (parent !== undefined && parent.exit !== undefined) {
          // The parent ended while the child's program compiled: the child never starts.
          const err = new KernelError('EINTR', `parent pid ${parent.pid} ended before its child could start`);
          abandon(err);
          throw err;
        }
        try {
          // Recorded first: a spawn the log cannot take does not happen.
          this.host.services.recorder.record({ type: 'spawn', pid, agentId: identity.agentId, detail: `${program.filename}${parent ? ` (child of pid ${parent.pid}, tree of pid ${lineage.rootPid})` : ''}`, policyVersion: this.host.policyVersion() });
        } catch (err) {
          abandon(err);
          throw err;
        }
        settle();
        this.host.services.telemetry?.agentStarted(pid, identity.agentId, program.filename);
        this.host.table.insert(proc, identity);
        if (lineage.deadline !== undefined) proc.addTimer(Math.max(0, lineage.deadline - Date.now()), () => this.host.die(proc, 'SIGKILL', `wall time limit ${lineage.limits.wallMs} ms`));
        if (lineage.limits.cpuMs !== undefined) this.host.cpu.watch(lineage);
        // The program starts once its tree is laid out (and restored): at once for memfs, later for a remote backend.
        void this.host.trees
          .ready(identity.agentId, this.host.quota(limits))
          .then(() => (restore === undefined ? undefined : restoreInto(vfs, restore.files)))
          .then(
            () => (proc.exit === undefined ? sandbox.start() : undefined),
            (err: unknown) => terminate(this.host.exits, proc, 1, { kind: 'error', error: `could not prepare the agent's tree: ${err instanceof Error ? err.message : String(err)}` }),
          );
        return proc;
      },
    };
  }
}
