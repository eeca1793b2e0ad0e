/**
 * The JSON form of a policy request, shared by `agentctl policy test`,
 * `agentctl policy explain` and (later) the service's evaluate endpoint:
 *   { agent, labels?, capabilities?, syscall, access?, path?, tool?, args?, flows? }
 */
import { Ajv } from 'ajv';
import type { PolicyRequest } from '../../abi/policy-request.ts';

export interface RequestJson {
  agent: string;
  labels?: Record<string, string>;
  capabilities?: string[];
  syscall: string;
  access?: 'read' | 'write' | 'none';
  path?: string;
  tool?: string;
  args?: Record<string, unknown>;
  flows?: string[];
}

export const REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['agent', 'syscall'],
  properties: {
    agent: { type: 'string', minLength: 1, maxLength: 128 },
    labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 64 },
    capabilities: { type: 'array', items: { type: 'string', maxLength: 512 }, maxItems: 256 },
    syscall: { type: 'string', minLength: 1, maxLength: 128 },
    access: { enum: ['read', 'write', 'none'] },
    path: { type: 'string', maxLength: 4096 },
    tool: { type: 'string', maxLength: 256 },
    args: { type: 'object', maxProperties: 256 },
    flows: { type: 'array', items: { enum: ['vfs-to-exec'] }, maxItems: 8 },
  },
} as const;

const validate = new Ajv({ strict: true }).compile<RequestJson>(REQUEST_SCHEMA);

/** requestFromJson validates `data`; throws an Error naming the bad field. */
export function requestFromJson(data: unknown): PolicyRequest {
  if (!validate(data)) {
    const err = validate.errors![0]!;
    const where = err.instancePath ? err.instancePath.slice(1).replaceAll('/', '.') : 'request';
    throw new Error(`${where}: ${err.message ?? 'is invalid'}`);
  }
  return requestOf(data);
}

/** requestOf is the engine's form of a request already valid (a policy analysis' witness, which it also builds). */
export function requestOf(data: RequestJson): PolicyRequest {
  return {
    agentId: data.agent,
    labels: data.labels ?? {},
    capabilities: new Set(data.capabilities ?? []),
    syscall: data.syscall,
    access: data.access ?? 'none',
    ...(data.path !== undefined ? { path: data.path } : {}),
    ...(data.tool !== undefined ? { tool: data.tool } : {}),
    args: data.args ?? {},
    ...(data.flows !== undefined ? { flows: data.flows } : {}),
  };
}
