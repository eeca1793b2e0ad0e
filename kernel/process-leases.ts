/**
 * The kernel's side of a hosted process's lease (kernel/hosts/leases.ts):
 * what it grants after an allowed call of a `host` row, and how it records
 * the calls the host then ran by itself (counted as the process's syscalls,
 * the recording charged to its tree as kernel time).
 */
import type { KernelServices, SyscallContext } from '../syscalls/context.ts';
import { hostRow, recordServed, steadyDecision } from '../syscalls/leased.ts';
import { LEASE_MS, type LeaseHooks } from './hosts/leases.ts';
import type { Process } from './process.ts';
import { recordRefusals, type GateHost } from './syscall-gate.ts';

/** LeaseHost is what leasing needs of the kernel. */
export interface LeaseHost {
  readonly services: KernelServices;
  readonly gate: GateHost;
  /** revokeLeases takes back every host's leases (the log failed: every call must come to the kernel, to fail there). */
  revokeLeases(): void;
}

/** processLeases is `proc`'s LeaseHooks; none when the kernel traces syscalls (each call is a span, so each comes to the kernel). */
export function processLeases(host: LeaseHost, proc: Process, ctx: SyscallContext): LeaseHooks | undefined {
  if (host.services.telemetry !== undefined) return undefined;
  const lineage = proc.lineage;
  return {
    grant(nr, args, most) {
      // A stopped process's calls wait in the kernel; queued handler signals ride on the kernel's next reply.
      if (proc.exit !== undefined || proc.stopped || proc.handlerQueue.length > 0) return undefined;
      const row = hostRow(nr);
      const decision = row === undefined ? undefined : steadyDecision(host.services, ctx, row, args);
      if (decision === undefined) return undefined;
      const reserved = lineage.reserve(host.gate.clock(), most, LEASE_MS, (refused) => recordRefusals(host.gate, proc, refused));
      return reserved.tokens === 0 ? undefined : { decision, ...reserved };
    },
    refund: (tokens, window) => lineage.refund(tokens, window),
    served(nr, args, decision) {
      const row = hostRow(nr);
      if (row === undefined) throw new Error(`syscall ${nr} is not one a host runs`);
      proc.syscalls++;
      lineage.syscalls++;
      const started = performance.now();
      let decoded: boolean;
      try {
        decoded = recordServed(host.services, ctx, row, args, decision);
      } catch {
        // The log cannot take it: from now on every call goes to the kernel, where the log's failure fails it.
        decoded = true;
        host.revokeLeases();
      }
      const ms = performance.now() - started;
      lineage.charge(ms * 1e6);
      host.gate.observeSyscall?.(row.name, ms / 1000);
      if (!decoded) throw new Error(`arguments that do not decode for ${row.name}`);
    },
    late(calls) {
      const total = calls.reduce((n, c) => n + c.count, 0);
      lineage.syscalls += total;
      const what = calls.map(({ nr, decision, count }) => `${count} × ${hostRow(nr)?.name ?? `#${nr}`} allowed by ${decision.rule}${decision.policyVersion !== undefined ? ` (policy ${decision.policyVersion})` : ''}`).join('; ');
      try {
        host.services.recorder.record({ type: 'limit', pid: proc.pid, agentId: proc.agentId, detail: `${total} calls its sandbox host ran under a lease before it learned the process had ended, recorded after its exit: ${what}` });
      } catch {
        host.revokeLeases();
      }
    },
  };
}
