/**
 * The JSON Schema of the agentd configuration file (checked with ajv by
 * config.ts, which documents every field) and the shapes of the documents
 * it accepts, before defaults and paths are filled in.
 */
import { CHAIN_STEP_SCHEMA, type RawChainStep } from './approvers/settings.ts';
import type { StreamSetting } from './config.ts';
import { SCHEMA_LIMITS } from '../limits.ts';

/** The longest retention, ms (about 24.8 days): a longer timer would fire at once (Node clamps it to 1 ms). */
export const MAX_RETENTION_MS = 2_147_483_647;


const ADDRESS = {
  type: 'object',
  required: ['host', 'port'],
  additionalProperties: false,
  properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
} as const;

const REDIS = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: { type: 'string', pattern: '^rediss?://' },
    sentinels: { type: 'array', minItems: 1, items: ADDRESS },
    name: { type: 'string', minLength: 1 },
    cluster: { type: 'array', minItems: 1, items: ADDRESS },
    password: { type: 'string' },
    key_prefix: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
    node_id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,48}$' },
    heartbeat_ms: { type: 'integer', minimum: 50, maximum: 60_000 },
    node_ttl_ms: { type: 'integer', minimum: 200, maximum: 600_000 },
    command_timeout_ms: { type: 'integer', minimum: 50, maximum: 60_000 },
  },
} as const;

/** AGENTD_CONFIG_SCHEMA is the whole file; a field it does not name is an error. */
export const AGENTD_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: {
      type: 'object',
      additionalProperties: false,
      properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 0, maximum: 65535 }, max_connections: { type: 'integer', minimum: 1, maximum: 65_536 } },
    },
    state_dir: { type: 'string', minLength: 1 },
    token_file: { type: 'string', minLength: 1 },
    policy: { type: 'string', minLength: 1 },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        file: { type: 'string', minLength: 1 },
        durable: { type: 'boolean' },
        segment_mib: { type: 'integer', minimum: 0, maximum: 1_048_576 },
        anchor_ms: { type: 'integer', minimum: 0, maximum: 86_400_000 },
        stream: { enum: ['before-action', 'mirror', 'off'] },
        stream_replicas: { type: 'integer', minimum: 0, maximum: 16 },
        stream_replica_timeout_ms: { type: 'integer', minimum: 1, maximum: 60_000 },
      },
    },
    approvals: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { enum: ['operator', 'deny', 'allow', 'webhook', 'chain'] },
        chain: { type: 'array', minItems: 1, maxItems: 8, items: CHAIN_STEP_SCHEMA },
        webhook: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: { type: 'string', pattern: '^https?://' },
            secret_file: { type: 'string', minLength: 1 },
            secret_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
            timeout_ms: { type: 'integer', minimum: 1, maximum: 60_000 },
          },
        },
      },
    },
    term_grace_ms: { type: 'integer', minimum: 0 },
    refusals: {
      type: 'object',
      additionalProperties: false,
      properties: { window_ms: { type: 'integer', minimum: 100, maximum: 3_600_000 }, max_clients: { type: 'integer', minimum: 1, maximum: 100_000 } },
    },
    evaluate: { type: 'object', additionalProperties: false, properties: { per_second: { type: 'integer', minimum: 1, maximum: 1_000_000 }, log_bytes_per_second: { type: 'integer', minimum: 4096 }, body_bytes_per_second: { type: 'integer', minimum: 4096 } } },
    // The policy schema's ranges (kernel/limits.ts SCHEMA_LIMITS): heap_mib 4 loaded, and every spawn then failed in isolated-vm (a review).
    limits: { type: 'object', additionalProperties: false, properties: SCHEMA_LIMITS },
    max_processes: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    hosts: {
      type: 'object',
      additionalProperties: false,
      required: ['count'],
      properties: {
        count: { type: 'integer', minimum: 1, maximum: 64 },
        agents_per_host: { type: 'integer', minimum: 1, maximum: 100_000 },
        hang_ms: { type: 'integer', minimum: 100, maximum: 600_000 },
        spares: { type: 'integer', minimum: 0, maximum: 64 },
      },
    },
    retention: {
      type: 'object',
      additionalProperties: false,
      properties: {
        exited_ms: { type: 'integer', minimum: 0, maximum: MAX_RETENTION_MS },
        trees_ms: { type: 'integer', minimum: 0, maximum: MAX_RETENTION_MS },
        checkpoints: { type: 'integer', minimum: 1, maximum: 1000 },
      },
    },
    programs: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
    mounts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'backend'],
        additionalProperties: false,
        properties: {
          path: { type: 'string', minLength: 1, maxLength: 1024 },
          backend: { enum: ['memfs', 'redis'] },
          read_only: { type: 'boolean' },
          quota: {
            type: 'object',
            additionalProperties: false,
            required: ['bytes', 'inodes'],
            description: 'a shared (absolute) Redis mount: what the one tree may hold (default 256 MiB and 65,536 files and directories); a mount inside each agent tree has the agent\'s quota',
            properties: { bytes: { type: 'integer', minimum: 0 }, inodes: { type: 'integer', minimum: 0 } },
          },
        },
      },
    },
    tools: {},
    mcp_servers: {},
    redis: REDIS,
    telemetry: {
      type: 'object',
      additionalProperties: false,
      required: ['otlp_endpoint'],
      properties: {
        otlp_endpoint: { type: 'string', pattern: '^https?://' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        service_name: { type: 'string', minLength: 1, maxLength: 256 },
        export_interval_ms: { type: 'integer', minimum: 10, maximum: 600_000 },
        sample_ratio: { type: 'number', minimum: 0, maximum: 1 },
      },
    },
  },
} as const;

/** RawConfig is a file that passed AGENTD_CONFIG_SCHEMA, as written. */
export interface RawConfig {
  listen?: { host?: string; port?: number; max_connections?: number };
  state_dir?: string;
  token_file?: string;
  policy?: string;
  log?: { file?: string; durable?: boolean; segment_mib?: number; anchor_ms?: number; stream?: StreamSetting['mode']; stream_replicas?: number; stream_replica_timeout_ms?: number };
  approvals?: { mode?: 'operator' | 'deny' | 'allow' | 'webhook' | 'chain'; webhook?: { url: string; secret_file?: string; secret_env?: string; timeout_ms?: number }; chain?: RawChainStep[] };
  term_grace_ms?: number;
  refusals?: { window_ms?: number; max_clients?: number };
  evaluate?: { per_second?: number; log_bytes_per_second?: number; body_bytes_per_second?: number };
  limits?: Record<string, number>;
  max_processes?: number;
  hosts?: { count: number; agents_per_host?: number; hang_ms?: number; spares?: number };
  retention?: { exited_ms?: number; trees_ms?: number; checkpoints?: number };
  programs?: Record<string, string>;
  mounts?: { path: string; backend: 'memfs' | 'redis'; read_only?: boolean; quota?: { bytes: number; inodes: number } }[];
  tools?: unknown;
  mcp_servers?: unknown;
  redis?: RawRedis;
  telemetry?: { otlp_endpoint: string; headers?: Record<string, string>; service_name?: string; export_interval_ms?: number; sample_ratio?: number };
}

/** RawRedis is the `redis:` section as written. */
export interface RawRedis {
  url?: string;
  sentinels?: { host: string; port: number }[];
  name?: string;
  cluster?: { host: string; port: number }[];
  password?: string;
  key_prefix?: string;
  node_id?: string;
  heartbeat_ms?: number;
  node_ttl_ms?: number;
  command_timeout_ms?: number;
}
