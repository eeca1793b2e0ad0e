/**
 * PolicyRequest is what the policy engine decides on: who asks (agent id,
 * labels, capabilities), for what (syscall or action), on what (path, tool,
 * arguments). Syscalls from ring 3 and external evaluation requests
 * (agentd's /v1/evaluate) both become one of these, and the decision log
 * keeps it with each decision the policy made, for replay.
 */
import type { Access } from './kinds.ts';

export interface PolicyRequest {
  readonly agentId: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly capabilities?: ReadonlySet<string>;
  /** root: the process an agent was started as (and every agent outside the kernel); child: spawned by another process of its tree. */
  readonly lineage?: 'root' | 'child';
  readonly syscall: string;
  readonly access?: Access;
  readonly path?: string;
  readonly tool?: string;
  readonly args?: Readonly<Record<string, unknown>>;
  /** Guarded data flows the call would make; only rules naming each in allow_flows can let it through. */
  readonly flows?: readonly string[];
  /** The agent's trust score (kernel/trust.ts); 1000 when absent. */
  readonly trust?: number;
  /** LLM tokens the agent had used when it asked, as the engine counts them: kept in the record for replay (the engine reads its own count). */
  readonly tokens?: number;
  /** The agent is at autonomy supervised and the call is a change, so an allow of it becomes a question (kernel/autonomy.ts): kept in the record for replay; the engine does not read it. */
  readonly supervised?: boolean;
}
