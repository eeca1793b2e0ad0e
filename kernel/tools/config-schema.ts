/**
 * The JSON Schema of the `tools` and `mcp_servers` configuration sections
 * (checked with ajv by config.ts) and the shapes of the documents it accepts.
 */
import type { JsonSchema, Risk } from './registry.ts';

const RISK = { enum: ['low', 'medium', 'high', 'critical'] } as const;
const POSITIVE = { type: 'integer', minimum: 1 } as const;
/** The hosts a secret may be sent to: host or host:port. */
const HOSTS = { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$', maxLength: 260 }, maxItems: 64 } as const;
const STRINGS = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const STRING_MAP = { type: 'object', additionalProperties: { type: 'string' } } as const;
const ARG_LIST = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, uniqueItems: true } as const;

export const TOOLS_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tools: {
      type: ['object', 'null'],
      additionalProperties: false,
      properties: {
        builtin: {
          type: 'object',
          additionalProperties: false,
          properties: {
            'time.now': { type: ['object', 'null'], additionalProperties: false, properties: {} },
            'tools.list': { type: ['object', 'null'], additionalProperties: false, properties: {} },
            'http.fetch': {
              type: ['object', 'null'],
              additionalProperties: false,
              properties: {
                timeout_ms: POSITIVE,
                max_output_bytes: POSITIVE,
                max_request_bytes: POSITIVE,
                allow_addresses: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, maxItems: 256 },
                model_endpoints: { type: 'array', items: { type: 'string', pattern: '^https?://', maxLength: 2048 }, maxItems: 64 },
                ambiguous_paths: { type: 'boolean' },
                secrets: {
                  type: 'object',
                  maxProperties: 64,
                  propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
                  additionalProperties: {
                    oneOf: [
                      HOSTS,
                      { type: 'object', additionalProperties: false, required: ['hosts'], properties: { hosts: HOSTS, body: { type: 'boolean' }, http: { type: 'boolean' } } },
                    ],
                  },
                },
              },
            },
            'llm.chat': {
              type: 'object',
              additionalProperties: false,
              required: ['endpoint', 'model'],
              properties: {
                endpoint: { type: 'string', pattern: '^https?://' },
                model: { type: 'string', minLength: 1 },
                models: STRINGS,
                api_key_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
                api_key: { type: 'string', minLength: 1 },
                timeout_ms: POSITIVE,
                max_output_bytes: POSITIVE,
                max_tokens: POSITIVE,
              },
            },
          },
        },
        commands: {
          type: 'object',
          propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$' },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['command', 'description'],
            properties: {
              command: { ...STRINGS, minItems: 1 },
              description: { type: 'string', minLength: 1, maxLength: 4000 },
              input_schema: { type: 'object' },
              risk: RISK,
              timeout_ms: POSITIVE,
              max_output_bytes: POSITIVE,
              max_concurrent: { type: 'integer', minimum: 1, maximum: 1024 },
              executes: ARG_LIST,
              env: STRING_MAP,
              cwd: { type: 'string', minLength: 1 },
              output: { enum: ['text', 'json'] },
              sandbox: {
                type: ['object', 'boolean'],
                additionalProperties: false,
                properties: {
                  network: { type: 'boolean' },
                  memory_mib: { type: 'integer', minimum: 16, maximum: 1_048_576 },
                  cpu_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
                  scratch_mib: { type: 'integer', minimum: 1, maximum: 65_536 },
                  read_only: STRINGS,
                },
              },
            },
          },
        },
      },
    },
    mcp_servers: {
      type: ['object', 'null'],
      propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          command: { type: 'string', minLength: 1 },
          args: { type: 'array', items: { type: 'string' } },
          env: STRING_MAP,
          cwd: { type: 'string', minLength: 1 },
          stderr: { enum: ['inherit', 'ignore'] },
          url: { type: 'string', pattern: '^https?://' },
          headers: STRING_MAP,
          timeout_ms: POSITIVE,
          max_output_bytes: POSITIVE,
          connect_timeout_ms: POSITIVE,
          include: STRINGS,
          exclude: STRINGS,
          risk: { type: 'object', additionalProperties: RISK },
          executes: { type: 'object', additionalProperties: ARG_LIST },
        },
        oneOf: [
          { required: ['command'], not: { anyOf: [{ required: ['url'] }, { required: ['headers'] }] } },
          { required: ['url'], not: { anyOf: [{ required: ['command'] }, { required: ['args'] }, { required: ['env'] }, { required: ['cwd'] }, { required: ['stderr'] }] } },
        ],
      },
    },
  },
} as const;

export interface RawBuiltins {
  'time.now'?: Record<string, never> | null;
  'tools.list'?: Record<string, never> | null;
  'http.fetch'?: { timeout_ms?: number; max_output_bytes?: number; max_request_bytes?: number; allow_addresses?: string[]; model_endpoints?: string[]; ambiguous_paths?: boolean; secrets?: Record<string, string[] | { hosts: string[]; body?: boolean; http?: boolean }> } | null;
  'llm.chat'?: { endpoint: string; model: string; models?: string[]; api_key_env?: string; api_key?: string; timeout_ms?: number; max_output_bytes?: number; max_tokens?: number };
}

export interface RawCommand {
  command: string[];
  description: string;
  input_schema?: JsonSchema;
  risk?: Risk;
  timeout_ms?: number;
  max_output_bytes?: number;
  max_concurrent?: number;
  executes?: string[];
  env?: Record<string, string>;
  cwd?: string;
  output?: 'text' | 'json';
  sandbox?: boolean | { network?: boolean; memory_mib?: number; cpu_seconds?: number; scratch_mib?: number; read_only?: string[] };
}

export interface RawServer {
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  stderr?: 'inherit' | 'ignore';
  url?: string;
  headers?: Record<string, string>;
  timeout_ms?: number;
  max_output_bytes?: number;
  connect_timeout_ms?: number;
  include?: string[];
  exclude?: string[];
  risk?: Record<string, Risk>;
  executes?: Record<string, string[]>;
}

export interface RawToolsConfig {
  tools?: { builtin?: RawBuiltins; commands?: Record<string, RawCommand> } | null;
  mcp_servers?: Record<string, RawServer> | null;
}
