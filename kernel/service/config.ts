/**
 * The agentd configuration file (YAML or JSON). Every field is optional:
 *   listen: { host: 127.0.0.1, port: 7070, max_connections: 4096 }
 *                                                loopback only; past max_connections, 64 more for the
 *                                                operator's token alone (kernel/service/connections.ts)
 *   state_dir: ~/.agent-kernel                  token, decision log, checkpoints
 *   token_file: <state_dir>/agentd.token
 *   policy: policy.yaml                          default: the built-in policy
 *   log: { file: <state_dir>/decisions.jsonl, durable: false, segment_mib: 64, anchor_ms: 1000,
 *          stream: mirror | before-action | off, stream_replicas: 0, stream_replica_timeout_ms: 1000 }
 *                                                segment_mib: roll to a new segment past this size (0: one file)
 *                                                anchor_ms: sign the chain head this often with <state_dir>/anchor.key
 *                                                (kernel/recorder/anchors.ts); 0: never
 *                                                stream: the node's decision stream in Redis (with redis:)
 *   approvals: { mode: operator | deny | allow | webhook | chain }  operator: wait for an answer through the API
 *              webhook: { url, secret_file | secret_env, timeout_ms: 2000 }
 *                                                webhook: ask a webhook, answered in its reply or by a
 *                                                signed callback (kernel/service/approvers/webhook.ts)
 *              chain: [{ command: { argv } } | { reviewer: { model?, may_approve? } }, …]
 *                                                chain: automated approvers before a person
 *                                                (kernel/service/approvers/settings.ts)
 *   term_grace_ms: 5000
 *   refusals: { window_ms: 10000, max_clients: 1024 }
 *                                                401s and 403s: all counted; the first per client per
 *                                                window recorded, then one summary per window
 *   evaluate: { per_second: 1000, log_bytes_per_second: 1048576, body_bytes_per_second: 4194304 }
 *                                                POST /v1/evaluate answers one agent this many times a second,
 *                                                its records adding at most this many bytes to the log, its
 *                                                credential's bodies this many bytes;
 *                                                past any 429 (retry-after: 1), sampled as refusals are
 *   limits: { heap_mib, cpu_ms, wall_ms, syscalls_per_second, kernel_ms_per_second, open_files, children, output_bytes, vfs_bytes, vfs_inodes }
 *                                                the kernel's defaults for every agent (kernel/limits.ts); the policy lowers them
 *   max_processes: 2048                          processes at once, exited ones not yet reaped included
 *   hosts: { count: 2, agents_per_host: 256, hang_ms: 10000, spares: 1 }
 *                                                run the agents' isolates in sandbox host processes
 *                                                (kernel/hosts): what one agent breaks costs only its
 *                                                host, which is replaced; absent: in agentd's own process
 *   retention: { exited_ms: 60000, trees_ms: 60000, checkpoints: 5 }
 *                                                exited_ms: how long an exited root process stays listed (status, exit
 *                                                reason, output, its VFS reachable by pid) before agentd reaps it (a
 *                                                child: once its parent waits for it or is reaped itself);
 *                                                trees_ms: how long an agent's VFS tree is kept once its last process
 *                                                is reaped (checkpoints stay on the host); each 0 to 2147483647;
 *                                                checkpoints: kept per agent
 *   programs: { name: path }                     programs agents may spawn by name
 *   mounts: [{ path: mem/semantic | /shared, backend: memfs | redis, read_only: false }]
 *                                                parts of every agent's namespace on their own backend
 *   tools, mcp_servers                           the tool registry (see kernel/tools)
 *   redis: { url | sentinels + name | cluster, password, key_prefix, node_id,
 *            heartbeat_ms, node_ttl_ms, command_timeout_ms }
 *                                                several agentd nodes as one kernel (kernel/cluster)
 *   telemetry: { otlp_endpoint: http://127.0.0.1:4318/v1/traces, headers: {}, service_name: agentd, export_interval_ms: 1000, sample_ratio: 1 }
 *                                                OpenTelemetry traces by OTLP/HTTP (kernel/telemetry); off without it
 * Paths are relative to the configuration file.
 */
import { homedir, hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { checkMounts } from '../mounts.ts';
import { isLoopbackHost } from '../tools/address-ranges.ts';
import type { RedisSettings } from '../cluster/redis.ts';
import { chainSettings, type ChainSettings } from './approvers/settings.ts';
import type { WebhookSettings } from './approvers/webhook.ts';
import { AGENTD_CONFIG_SCHEMA, type RawConfig, type RawRedis } from './config-schema.ts';
import { MAX_CONNECTIONS } from './connections.ts';
import { MAX_CONFIG_BYTES, MAX_KEY_BYTES, readRegularText, withoutFile } from '../regular-file.ts';

/** MountSetting is one entry of `mounts:`: a path relative to each agent's tree, or absolute (one place for every agent). */
export interface MountSetting {
  readonly path: string;
  readonly backend: 'memfs' | 'redis';
  readonly readOnly: boolean;
  /** For a shared (absolute) mount on Redis: what the one tree may hold, across every agent and node (SHARED_MOUNT_QUOTA unless the configuration says). */
  readonly quota?: { readonly bytes: number; readonly inodes: number };
}

/**
 * SHARED_MOUNT_QUOTA is what a shared (absolute) Redis mount holds when the
 * configuration gives no quota: every agent with write access fills the one
 * tree, in the Redis the decision streams and every node share, so it is
 * bounded as each agent's own tree is (8× the default agent quota).
 */
export const SHARED_MOUNT_QUOTA = { bytes: 256 * 1024 * 1024, inodes: 65_536 } as const;

/** RetentionSetting: how long what an agent leaves behind is kept. */
export interface RetentionSetting {
  /** An exited process (status, exit reason, output) stays listed this long before it is reaped, ms. */
  readonly exitedMs: number;
  /** An agent's VFS tree stays this long after its last process is reaped, ms (checkpoints stay on the host). */
  readonly treesMs: number;
  /** Checkpoints kept per agent. */
  readonly checkpoints: number;
}

/** StreamSetting: the node's decision stream copies its file log; effects wait for the file log only (mirror, the default), for the stream too (before-action), or there is no stream (off). */
export interface StreamSetting {
  readonly mode: 'before-action' | 'mirror' | 'off';
  readonly replicas: number;
  readonly replicaTimeoutMs: number;
}

export interface AgentdConfig {
  readonly host: string;
  readonly port: number;
  /** Connections served to anyone; RESERVED_FOR_OPERATOR more serve the operator alone (kernel/service/connections.ts). */
  readonly maxConnections: number;
  readonly stateDir: string;
  readonly tokenFile: string;
  readonly policyFile?: string;
  readonly logFile: string;
  readonly durable: boolean;
  /** The decision log rolls to a new segment rather than pass this size (0: never). */
  readonly segmentBytes: number;
  /** How often the chain head is signed into the log (kernel/recorder/anchors.ts), ms; 0: never. */
  readonly anchorMs: number;
  /** The node's decision stream in Redis, used when there is a `redis:` section (see kernel/service/shared-storage.ts). */
  readonly logStream: StreamSetting;
  readonly approvals: 'operator' | 'deny' | 'allow' | 'webhook' | 'chain';
  /** With approvals.mode webhook: where questions go, and the secret that signs them and their callbacks. */
  readonly webhook?: WebhookSettings;
  /** Files of secrets the configuration names (the webhook's secret_file): hidden from command tools. */
  readonly secretFiles?: readonly string[];
  /** With approvals.mode chain: the automated approvers asked in order before a person. */
  readonly chain?: readonly ChainSettings[];
  readonly termGraceMs: number;
  /** How 401s and 403s are sampled into the decision log (kernel/service/refusals.ts). */
  readonly refusals: { readonly windowMs: number; readonly maxClients: number };
  /** Evaluations one agent outside the kernel may ask a second (kernel/service/evaluate-rate.ts). */
  readonly evaluatePerSecond: number;
  /** Bytes of decision records one agent's evaluations (and MCP tool calls) may add to the log a second. */
  readonly evaluateLogBytesPerSecond: number;
  /** Bytes of POST /v1/evaluate bodies one agent credential may send a second. */
  readonly evaluateBodyBytesPerSecond: number;
  readonly limits?: Readonly<Record<string, number>>;
  /** Processes the kernel holds at once (exited, unreaped ones included). */
  readonly maxProcesses?: number;
  /** The `hosts:` section: the agents' isolates run in sandbox host processes (kernel/hosts); in agentd's own process without it. */
  readonly hosts?: { readonly count: number; readonly agentsPerHost: number; readonly hangMs: number; readonly spares: number };
  readonly retention: RetentionSetting;
  readonly programs: Readonly<Record<string, string>>;
  /** Mounts in every agent's namespace, each on memfs or Redis. */
  readonly mounts: readonly MountSetting[];
  /** The raw `tools` / `mcp_servers` sections, for the tool registry. */
  readonly tools?: unknown;
  readonly mcpServers?: unknown;
  /** The `redis:` section: when present this agentd is a node of a cluster (kernel/cluster). */
  readonly redis?: RedisSettings;
  /** The `telemetry:` section: OpenTelemetry traces by OTLP/HTTP; none without it. */
  readonly telemetry?: TelemetrySetting;
  /** The file the configuration came from, if any. */
  readonly file?: string;
}

/** TelemetrySetting: where traces go (kernel/telemetry/otel.ts). */
export interface TelemetrySetting {
  readonly endpoint: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
  readonly exportIntervalMs: number;
  /** The share of agent lifetimes (with their decisions) traced, 0 to 1. */
  readonly sampleRatio: number;
}

const validate = new Ajv({ strict: false }).compile<RawConfig>(AGENTD_CONFIG_SCHEMA);

export class ConfigError extends Error {}

function expand(path: string, base: string): string {
  const home = path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
  return isAbsolute(home) ? home : resolve(base, home);
}

/** webhookSettings reads approvals.webhook (and its secret) when approvals.mode is webhook. ConfigError naming the field otherwise. */
function webhookSettings(raw: RawConfig['approvals'], base: string, file: string): { webhook?: WebhookSettings; secretFiles?: readonly string[] } {
  if (raw?.mode !== 'webhook') {
    if (raw?.webhook !== undefined) throw new ConfigError(`${file}: approvals.webhook is set but approvals.mode is ${raw.mode ?? 'operator'}: set mode: webhook`);
    return {};
  }
  const hook = raw.webhook;
  if (hook === undefined) throw new ConfigError(`${file}: approvals.mode webhook needs approvals.webhook: { url, secret_file or secret_env }`);
  if ((hook.secret_file === undefined) === (hook.secret_env === undefined)) throw new ConfigError(`${file}: approvals.webhook needs one of secret_file and secret_env (the shared secret that signs questions and callbacks)`);
  let secret: string | undefined;
  const path = hook.secret_file === undefined ? undefined : expand(hook.secret_file, base);
  if (path !== undefined) {
    try {
      secret = readRegularText(path, MAX_KEY_BYTES, 'secret file').trim();
    } catch (err) {
      throw new ConfigError(`${file}: approvals.webhook.secret_file: cannot read ${path} (${err instanceof Error ? withoutFile(err.message, path) : String(err)})`);
    }
  } else secret = process.env[hook.secret_env!]?.trim();
  if (secret === undefined || secret.length < 16) throw new ConfigError(`${file}: approvals.webhook: the secret (${hook.secret_file !== undefined ? `secret_file ${hook.secret_file}` : `environment variable ${hook.secret_env}`}) must hold at least 16 characters`);
  const url = new URL(hook.url);
  if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) throw new ConfigError(`${file}: approvals.webhook.url must be https (http only on loopback): its reply approves actions, so nothing may sit between`);
  return { webhook: { url: hook.url, secret, timeoutMs: hook.timeout_ms ?? 2000 }, ...(path !== undefined ? { secretFiles: [path] } : {}) };
}

/** mountSettings checks the `mounts:` section: each path inside an agent's tree (not its root or policy/) or absolute, none twice. */
function mountSettings(raw: NonNullable<RawConfig['mounts']>, file: string): MountSetting[] {
  const misplaced = raw.find((m) => m.quota !== undefined && (m.backend !== 'redis' || !m.path.startsWith('/')));
  if (misplaced !== undefined) throw new ConfigError(`${file}: mounts: ${misplaced.path}: quota is for a shared (absolute) Redis mount; a mount in each agent's tree has the agent's quota (limits.vfs_bytes, limits.vfs_inodes)`);
  const shared = (m: (typeof raw)[number]) => m.backend === 'redis' && m.path.startsWith('/');
  const mounts = raw.map((m) => ({ path: m.path, backend: m.backend, readOnly: m.read_only ?? false, ...(shared(m) ? { quota: m.quota ?? SHARED_MOUNT_QUOTA } : {}) }));
  try {
    checkMounts(mounts.map((m) => ({ path: m.path, backend: () => undefined as never })));
  } catch (err) {
    throw new ConfigError(`${file}: mounts: ${err instanceof Error ? err.message : String(err)}`);
  }
  return mounts;
}

/** loadConfig reads `file` (or returns the defaults when undefined). ConfigError names the file and field. */
export function loadConfig(file: string | undefined, overrides: { port?: number; stateDir?: string } = {}): AgentdConfig {
  let raw: RawConfig = {};
  if (file !== undefined) {
    let data: unknown;
    try {
      data = parseYaml(readRegularText(file, MAX_CONFIG_BYTES, 'configuration')) ?? {};
    } catch (err) {
      throw new ConfigError(`${file}: ${err instanceof Error ? withoutFile(err.message.split('\n')[0]!, file) : String(err)}`);
    }
    if (!validate(data)) {
      const e = validate.errors![0]!;
      const where = `${e.instancePath.slice(1).replaceAll('/', '.')}${e.keyword === 'additionalProperties' ? `${e.instancePath ? '.' : ''}${String((e.params as { additionalProperty: string }).additionalProperty)}` : ''}`;
      throw new ConfigError(`${file}: ${where || 'config'}: ${e.keyword === 'additionalProperties' ? 'is not a known field' : e.message}`);
    }
    raw = data;
  }
  const base = file === undefined ? process.cwd() : dirname(resolve(file));
  const stateDir = overrides.stateDir ?? expand(raw.state_dir ?? '~/.agent-kernel', base);
  const host = raw.listen?.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) throw new ConfigError(`${file ?? 'config'}: listen.host must be a loopback address (localhost, 127.0.0.0/8 or ::1), not ${host}`);
  const programs: Record<string, string> = {};
  for (const [name, path] of Object.entries(raw.programs ?? {})) programs[name] = expand(path, base);
  return {
    host,
    port: overrides.port ?? raw.listen?.port ?? 7070,
    maxConnections: raw.listen?.max_connections ?? MAX_CONNECTIONS,
    stateDir,
    tokenFile: raw.token_file ? expand(raw.token_file, base) : join(stateDir, 'agentd.token'),
    ...(raw.policy ? { policyFile: expand(raw.policy, base) } : {}),
    logFile: raw.log?.file ? expand(raw.log.file, base) : join(stateDir, 'decisions.jsonl'),
    durable: raw.log?.durable ?? false,
    segmentBytes: (raw.log?.segment_mib ?? 64) * 1024 * 1024,
    anchorMs: raw.log?.anchor_ms ?? 1000,
    logStream: { mode: raw.log?.stream ?? 'mirror', replicas: raw.log?.stream_replicas ?? 0, replicaTimeoutMs: raw.log?.stream_replica_timeout_ms ?? 1000 },
    approvals: raw.approvals?.mode ?? 'operator',
    ...webhookSettings(raw.approvals, base, file ?? 'config'),
    ...chainSettings(raw.approvals?.mode, raw.approvals?.chain, base, (why) => {
      throw new ConfigError(`${file ?? 'config'}: ${why}`);
    }),
    termGraceMs: raw.term_grace_ms ?? 5000,
    refusals: { windowMs: raw.refusals?.window_ms ?? 10_000, maxClients: raw.refusals?.max_clients ?? 1024 },
    evaluatePerSecond: raw.evaluate?.per_second ?? 1000,
    evaluateLogBytesPerSecond: raw.evaluate?.log_bytes_per_second ?? 1024 * 1024,
    evaluateBodyBytesPerSecond: raw.evaluate?.body_bytes_per_second ?? 4 * 1024 * 1024,
    ...(raw.limits ? { limits: raw.limits } : {}),
    ...(raw.max_processes !== undefined ? { maxProcesses: raw.max_processes } : {}),
    ...(raw.hosts !== undefined ? { hosts: { count: raw.hosts.count, agentsPerHost: raw.hosts.agents_per_host ?? 256, hangMs: raw.hosts.hang_ms ?? 10_000, spares: raw.hosts.spares ?? 1 } } : {}),
    retention: { exitedMs: raw.retention?.exited_ms ?? 60_000, treesMs: raw.retention?.trees_ms ?? 60_000, checkpoints: raw.retention?.checkpoints ?? 5 },
    programs,
    mounts: mountSettings(raw.mounts ?? [], file ?? 'config'),
    ...(raw.tools !== undefined ? { tools: raw.tools } : {}),
    ...(raw.mcp_servers !== undefined ? { mcpServers: raw.mcp_servers } : {}),
    ...(raw.redis !== undefined ? { redis: redisSettings(raw.redis, file ?? 'config') } : {}),
    ...(raw.telemetry !== undefined
      ? { telemetry: { endpoint: raw.telemetry.otlp_endpoint, headers: raw.telemetry.headers ?? {}, serviceName: raw.telemetry.service_name ?? 'agentd', exportIntervalMs: raw.telemetry.export_interval_ms ?? 1000, sampleRatio: raw.telemetry.sample_ratio ?? 1 } }
      : {}),
    ...(file !== undefined ? { file } : {}),
  };
}

/** redisSettings checks the `redis:` section: exactly one of url, sentinels or cluster; defaults for the rest. */
function redisSettings(raw: RawRedis, file: string): RedisSettings {
  const given = [raw.url, raw.sentinels, raw.cluster].filter((v) => v !== undefined).length;
  if (given > 1) throw new ConfigError(`${file}: redis: give one of url, sentinels or cluster, not ${given}`);
  const heartbeatMs = raw.heartbeat_ms ?? 500;
  const nodeTtlMs = raw.node_ttl_ms ?? Math.max(3000, heartbeatMs * 4);
  if (nodeTtlMs < heartbeatMs * 2) throw new ConfigError(`${file}: redis.node_ttl_ms must be at least twice heartbeat_ms`);
  return {
    ...(raw.url !== undefined || given === 0 ? { url: raw.url ?? 'redis://127.0.0.1:6379' } : {}),
    ...(raw.sentinels ? { sentinels: raw.sentinels, name: raw.name ?? 'mymaster' } : {}),
    ...(raw.cluster ? { cluster: raw.cluster } : {}),
    ...(raw.password !== undefined ? { password: raw.password } : {}),
    keyPrefix: raw.key_prefix ?? 'agentk',
    nodeId: raw.node_id ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 32)}-${process.pid}`,
    heartbeatMs,
    nodeTtlMs,
    commandTimeoutMs: raw.command_timeout_ms ?? 1000,
    connectTimeoutMs: 2000,
  };
}
