/**
 * The embedded kernel, as the package exports it (`import { Kernel } from
 * 'agent-kernel'`): the kernel, programs, policies, decision logs and tools.
 * The agentd client is `agent-kernel/client`; the typings of what an agent
 * program sees are `agent-kernel/agent`.
 */
export { Kernel, DEFAULT_MAX_PROCESSES, type KernelOptions, type SpawnOptions } from './kernel.ts';
export { buildProgram, programFromFile, programFromSource, MAX_PROGRAM_BYTES, type Program } from './program.ts';
export { buildProgramFile } from './program-build.ts';
export { loadPolicyFile, parsePolicy, PolicyError, type LoadedPolicy } from './policy/load.ts';
export { MemoryDecisionLog, type LoggedDecision } from './decision-log.ts';
export { FileDecisionLog, type FileLogOptions } from './recorder/file-log.ts';
export { ToolRegistry, type ToolSpec, type ToolInfo, type ToolCaller, type ToolInvocation, type JsonObject, type Risk } from './tools/registry.ts';
export type { JsonValue } from '../syscalls/schema.ts';
export { buildRegistry, defaultRegistry, loadToolsConfig, parseToolsConfig, ToolsConfigError, type ToolsConfig } from './tools/config.ts';
export type { ExitReason, ExitRecord, ProcessInfo, ProcessState } from './process.ts';
export { ERRNO, KernelError, type Errno } from '../abi/errno.ts';
export { OtelTelemetry, type TelemetryOptions } from './telemetry/otel.ts';
