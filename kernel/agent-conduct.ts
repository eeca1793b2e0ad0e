/**
 * What the kernel keeps of each agent's conduct across its processes: its
 * trust score (lowered by denials, violations, refused approvals and
 * tripped breakers; below the policy's floor every live process of the
 * agent gets SIGTRUST), its circuit breakers, and its autonomy level.
 */
import { recordAct } from './recorder/record-act.ts';
import { shownBreaker, type Conduct, type Misbehaviour } from '../syscalls/context.ts';
import type { DecisionRecorder } from '../syscalls/records.ts';
import { Autonomies, type Autonomy } from './autonomy.ts';
import { Breakers, type BreakerEvent } from './breakers.ts';
import type { PolicyEngine } from './policy/engine.ts';
import type { Process, ProcessInfo } from './process.ts';
import { TrustScores } from './trust.ts';

/** ConductHost is what an agent's conduct needs of the kernel. */
export interface ConductHost {
  readonly recorder: DecisionRecorder;
  readonly engine: PolicyEngine;
  readonly clock: () => number;
  liveOf(agentId: string): Process[];
  /** sigtrust sends SIGTRUST to `proc` from the kernel, saying why. */
  sigtrust(proc: Process, why: string): void;
}

export class AgentConduct {
  readonly trust: TrustScores;
  readonly breakers: Breakers;
  readonly autonomies = new Autonomies();
  private readonly host: ConductHost;

  constructor(host: ConductHost) {
    this.host = host;
    this.trust = new TrustScores(host.clock);
    this.breakers = new Breakers(() => host.engine.breaker, host.clock, (event) => this.breakerChanged(event));
  }

  /** conduct is what the dispatcher reports a call's conduct to (KernelServices.conduct). */
  get conduct(): Conduct {
    return {
      misbehaved: (agentId, what) => this.misbehaved(agentId, what),
      ended: (agentId, key, ok) => (ok ? this.breakers.succeeded(agentId, key) : this.breakers.failed(agentId, key)),
    };
  }

  /**
   * misbehaved lowers an agent's trust (a denial, a violation, a refused
   * approval); when that takes it below the policy's trust floor, every live
   * process of the agent gets SIGTRUST.
   */
  misbehaved(agentId: string, what: Misbehaviour): void {
    const { before, after } = this.trust.lower(agentId, what);
    const floor = this.host.engine.trustFloor;
    if (floor === undefined || before < floor || after >= floor) return;
    for (const proc of this.host.liveOf(agentId)) this.host.sigtrust(proc, `the kernel: trust ${after} fell below the policy's floor ${floor}`);
  }

  /** autonomy is agent `agentId`'s autonomy level. */
  autonomy(agentId: string): Autonomy {
    return this.autonomies.level(agentId);
  }

  /** setAutonomy changes an agent's autonomy level (every process of it, from its next call), recorded first with who changed it (recordAct: a log that cannot take the record leaves the level as it was). */
  async setAutonomy(agentId: string, level: Autonomy, by: string): Promise<void> {
    const before = this.autonomies.level(agentId);
    await recordAct(this.host.recorder, { type: 'policy', pid: 0, agentId, detail: `autonomy of agent ${agentId}: ${before} -> ${level} by ${by}`, policyVersion: this.host.engine.version });
    this.autonomies.set(agentId, level);
  }

  /** standing is what `ps` shows of the agent beside its process: trust, open breakers, an autonomy below full. */
  standing(agentId: string): Pick<ProcessInfo, 'trust' | 'breakers' | 'autonomy'> {
    const open = this.breakers.open(agentId).map((b) => b.key);
    const autonomy = this.autonomies.level(agentId);
    return { trust: this.trust.score(agentId), ...(open.length > 0 ? { breakers: open } : {}), ...(autonomy !== 'full' ? { autonomy } : {}) };
  }

  /** breakerChanged records a circuit breaker opening or closing (under its agent's id); opening one costs the agent trust. */
  private breakerChanged(event: BreakerEvent): void {
    const shown = shownBreaker(event.agentId, event.key);
    try {
      this.host.recorder.record({ type: 'limit', pid: 0, agentId: shown.agentId, detail: `circuit breaker ${shown.key} ${event.state}: ${event.why}` });
    } catch {
      // the log's own problem says why
    }
    if (event.state === 'open') this.misbehaved(shown.agentId, 'breakerTrip');
    // Breakers are the agent's own: only its processes' leases rest on them (an outside agent's hold none of them).
    if (!shown.outside) for (const proc of this.host.liveOf(shown.agentId)) proc.sandbox?.revokeLease?.();
  }
}
