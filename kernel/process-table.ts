/**
 * ProcessTable holds the kernel's processes from spawn until they are
 * reaped, each with its identity, and keeps every process tree's member
 * list in step with it; it answers what the trees' processes use (live
 * members, CPU time, the usage `ps` shows). Exited processes stay
 * (zombies) until waited for.
 */
import { KernelError } from '../abi/errno.ts';
import type { Identity } from './capabilities.ts';
import type { Lineage } from './lineage.ts';
import type { Process, TreeUsage } from './process.ts';

export class ProcessTable {
  private readonly procs = new Map<number, Process>();
  private readonly identities = new Map<number, Identity>();

  get size(): number {
    return this.procs.size;
  }

  get(pid: number): Process | undefined {
    return this.procs.get(pid);
  }

  /** lookup is get, or ESRCH. */
  /** find answers process `pid`, or undefined if the table has none. */
  find(pid: number): Process | undefined {
    return this.procs.get(pid);
  }

  lookup(pid: number): Process {
    const proc = this.procs.get(pid);
    if (proc === undefined) throw new KernelError('ESRCH', `no process ${pid}`);
    return proc;
  }

  identity(pid: number): Identity | undefined {
    return this.identities.get(pid);
  }

  /** insert adds a spawned process to the table and to its tree. */
  insert(proc: Process, identity: Identity): void {
    this.procs.set(proc.pid, proc);
    this.identities.set(proc.pid, identity);
    proc.lineage.members.add(proc.pid);
  }

  /** remove takes `proc` out (it has been reaped); false if it was no longer there. */
  remove(proc: Process): boolean {
    if (this.procs.get(proc.pid) !== proc) return false;
    this.procs.delete(proc.pid);
    this.identities.delete(proc.pid);
    proc.lineage.members.delete(proc.pid);
    return true;
  }

  values(): IterableIterator<Process> {
    return this.procs.values();
  }

  /** live lists the members of `lineage` that have not ended, `except` one if given. */
  live(lineage: Lineage, except?: Process): Process[] {
    const out: Process[] = [];
    for (const pid of lineage.members) {
      const member = this.procs.get(pid);
      if (member !== undefined && member !== except && member.exit === undefined) out.push(member);
    }
    return out;
  }

  /** liveOf lists the processes of `agentId` (every tree it runs) that have not ended. */
  liveOf(agentId: string): Process[] {
    const out: Process[] = [];
    for (const proc of this.procs.values()) if (proc.agentId === agentId && proc.exit === undefined) out.push(proc);
    return out;
  }

  /** treeCpuNs is the CPU time of a tree: its live isolates, its ended ones and the kernel's work for it. */
  treeCpuNs(lineage: Lineage): number {
    let ns = lineage.endedCpuNs + lineage.kernelNs;
    for (const member of this.live(lineage)) ns += Number(member.sandbox?.cpuTimeNs ?? 0n);
    return ns;
  }

  /** usage is what ring 0 accounts to `lineage`, with `files`, its agent's VFS tree. */
  usage(lineage: Lineage, files: { bytes: number; inodes: number; maxBytes: number; maxInodes: number } | undefined): TreeUsage {
    return {
      root: lineage.rootPid,
      processes: lineage.members.size,
      cpuMs: this.treeCpuNs(lineage) / 1e6,
      kernelMs: lineage.kernelNs / 1e6,
      syscalls: lineage.syscalls,
      logBytes: lineage.logBytes,
      syscallsThisSecond: lineage.callsThisSecond,
      outputBytes: lineage.output.used,
      vfsBytes: files?.bytes ?? 0,
      vfsInodes: files?.inodes ?? 0,
      ...(files !== undefined && Number.isFinite(files.maxBytes) ? { vfsBytesLimit: files.maxBytes } : {}),
      ...(files !== undefined && Number.isFinite(files.maxInodes) ? { vfsInodesLimit: files.maxInodes } : {}),
    };
  }

  /** liveIsolates counts isolates not yet disposed. */
  liveIsolates(): number {
    let n = 0;
    for (const proc of this.procs.values()) if (proc.sandbox && !proc.sandbox.disposed) n++;
    return n;
  }
}
