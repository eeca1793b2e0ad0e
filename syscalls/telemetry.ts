/**
 * What the kernel's tracing sees of a decision: spans and their attribute
 * names (the exporter is kernel/telemetry/).
 */

/** TraceSpan is one span of a trace: attributes set as the call goes on, ended once. */
export interface TraceSpan {
  set(key: string, value: string | number | boolean): void;
  /** child starts a span inside this one (an approval wait, a tool call). */
  child(name: string): TraceSpan;
  /** end closes the span; an errno marks it failed. */
  end(errno?: string): void;
}

/** TRACE_ATTR names the attributes of the kernel's spans, once for the dispatcher and the exporter (`agent_kernel.*`). */
export const TRACE_ATTR = {
  agent: 'agent_kernel.agent',
  pid: 'agent_kernel.pid',
  program: 'agent_kernel.program',
  effect: 'agent_kernel.decision',
  rule: 'agent_kernel.rule',
  policy: 'agent_kernel.policy_version',
  seq: 'agent_kernel.record_seq',
  tool: 'agent_kernel.tool',
  path: 'agent_kernel.path',
  errno: 'agent_kernel.errno',
  status: 'agent_kernel.exit_status',
  reason: 'agent_kernel.exit_reason',
  approver: 'agent_kernel.approver',
} as const;

/** Telemetry traces what the kernel decides: a span per agent lifetime, syscall decision, tool call and approval wait. */
export interface Telemetry {
  /** agentStarted opens process `pid`'s lifetime span (its syscalls' spans go inside it). */
  agentStarted(pid: number, agentId: string, program: string): void;
  /** agentEnded closes it with the process's exit status and reason. */
  agentEnded(pid: number, status: number, reason: string): void;
  /** syscall starts the span of one syscall of process `pid` (0: a caller outside the kernel). */
  syscall(pid: number, agentId: string, name: string): TraceSpan;
}
