/**
 * The Policy Definition Language: the published JSON Schema (printed by
 * `agentctl policy schema`) and the TypeScript shape of a valid document.
 */

import type { Effect } from '../../abi/kinds.ts';

export type Risk = 'low' | 'medium' | 'high' | 'critical';
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export type ViolationSignal = 'SIGPOLICY' | 'SIGTRUST' | 'SIGKILL' | 'SIGTERM';
/**
 * Flow names a guarded data flow. `vfs-to-exec`: a tool would execute (as
 * code, a command or a script) content the calling agent wrote into its VFS.
 * A request that makes a flow matches only rules whose allow_flows name it.
 */
export type Flow = 'vfs-to-exec';
export const FLOWS: readonly Flow[] = ['vfs-to-exec'];

/** ArgPattern matches one named argument: exactly one of equals, contains, glob, regex. */
export interface ArgPattern {
  arg: string;
  equals?: string;
  contains?: string;
  glob?: string;
  regex?: string;
}

export interface RuleLimits {
  /** Calls this rule may let through, per agent, over the kernel's lifetime. */
  max_calls?: number;
  /** At most `count` calls per `per`, per agent (sliding window). */
  rate?: { count: number; per: 'second' | 'minute' | 'hour' };
  /** The agent's LLM tokens used so far must stay below this. */
  token_budget?: number;
}

export interface TimeWindow {
  days?: Weekday[];
  /** `HH:MM-HH:MM`, may wrap midnight. */
  hours?: string;
  /** IANA zone; UTC by default. */
  timezone?: string;
}

export interface PolicyRule {
  id: string;
  effect: Effect;
  description?: string;
  reason?: string;
  syscalls?: string[];
  agents?: string[];
  labels?: Record<string, string>;
  capabilities?: string[];
  paths?: string[];
  access?: ('read' | 'write' | 'none')[];
  /** root: the process an agent was started as; child: a process it spawned (which runs as the same agent). */
  lineage?: ('root' | 'child')[];
  tools?: string[];
  args?: ArgPattern[];
  when?: TimeWindow;
  limits?: RuleLimits;
  on_violation?: ViolationSignal;
  risk?: Risk;
  /** Guarded data flows this (allow or require_approval) rule lets through, e.g. `vfs-to-exec`. */
  allow_flows?: Flow[];
  /** Matches while the agent's trust score (kernel/trust.ts) is below `below`. */
  trust?: { below: number };
}

export interface PolicyDocument {
  version: 1;
  name?: string;
  description?: string;
  defaults?: { approval_timeout_ms?: number; trust_floor?: number; breaker?: { failures: number; window_ms?: number; cooldown_ms?: number }; limits?: Record<string, number>; escalate_risk?: Risk };
  rules: PolicyRule[];
  contracts?: Contract[];
}

/**
 * Contract is an intent contract (kernel/policy/contracts.ts): CEL
 * expressions over a call of the syscalls and tools it names. `pre` must
 * hold before the policy is asked (else deny); `post` after the call
 * succeeded and `invariants` after every call it covers that ran (else the
 * contract's signal).
 */
export interface Contract {
  id: string;
  syscalls?: string[];
  tools?: string[];
  pre?: string[];
  post?: string[];
  invariants?: string[];
  on_failure?: ViolationSignal;
  description?: string;
}

const celList = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 2048 }, minItems: 1, maxItems: 16 } as const;

const stringList = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 512 }, minItems: 1, maxItems: 1000 } as const;

export const POLICY_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://agent-kernel.dev/schema/policy-v1.json',
  title: 'Agent kernel policy (PDL v1)',
  description: 'Rules match requests; deny overrides require_approval overrides allow; no matching rule means deny.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'rules'],
  properties: {
    version: { const: 1, description: 'PDL version' },
    name: { type: 'string', maxLength: 200 },
    description: { type: 'string', maxLength: 4000 },
    defaults: {
      type: 'object',
      additionalProperties: false,
      properties: {
        approval_timeout_ms: { type: 'integer', minimum: 1, maximum: 86_400_000 },
        trust_floor: { type: 'integer', minimum: 1, maximum: 1000, description: "an agent whose trust score falls below this gets SIGTRUST in every live process (kernel/trust.ts)" },
        breaker: {
          type: 'object',
          additionalProperties: false,
          required: ['failures'],
          description: 'a circuit breaker per agent and tool: `failures` denied or failed calls within window_ms open it for cooldown_ms (kernel/breakers.ts)',
          properties: {
            failures: { type: 'integer', minimum: 1, maximum: 10_000 },
            window_ms: { type: 'integer', minimum: 1, maximum: 86_400_000 },
            cooldown_ms: { type: 'integer', minimum: 1, maximum: 86_400_000 },
          },
        },
        escalate_risk: { enum: ['low', 'medium', 'high', 'critical'], description: 'an allow by a rule whose risk is at least this becomes require_approval (rule kernel.risk-escalation)' },
        limits: {
          type: 'object',
          additionalProperties: false,
          description: 'per-process ceilings; a spawn may ask for less, never more',
          properties: {
            heap_mib: { type: 'integer', minimum: 8, maximum: 65_536 },
            cpu_ms: { type: 'integer', minimum: 1 },
            wall_ms: { type: 'integer', minimum: 1 },
            syscalls_per_second: { type: 'integer', minimum: 1 },
            kernel_ms_per_second: { type: 'integer', minimum: 1 },
            log_bytes_per_second: { type: 'integer', minimum: 4096 },
            open_files: { type: 'integer', minimum: 3, maximum: 65_536 },
            children: { type: 'integer', minimum: 0 },
            output_bytes: { type: 'integer', minimum: 0 },
            vfs_bytes: { type: 'integer', minimum: 0 },
            vfs_inodes: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    contracts: {
      type: 'array',
      maxItems: 1000,
      description: 'intent contracts: CEL pre-conditions (deny), post-conditions and invariants (a signal) over the calls of the syscalls and tools they name',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' },
          description: { type: 'string', maxLength: 4000 },
          syscalls: stringList,
          tools: stringList,
          pre: celList,
          post: celList,
          invariants: celList,
          on_failure: { enum: ['SIGPOLICY', 'SIGTRUST', 'SIGKILL', 'SIGTERM'] },
        },
      },
    },
    rules: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'effect'],
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' },
          effect: { enum: ['allow', 'deny', 'require_approval'] },
          description: { type: 'string', maxLength: 4000 },
          reason: { type: 'string', maxLength: 1000 },
          syscalls: { ...stringList, description: 'syscall names (SYS_OPEN …), action names for external agents, or "*"' },
          agents: { ...stringList, description: 'globs on the agent id' },
          labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 512 }, description: 'label → glob; all must match' },
          capabilities: { ...stringList, description: 'capabilities the agent must all hold' },
          paths: { ...stringList, description: 'globs on the resolved VFS path; ${agent} is the calling agent id' },
          access: { type: 'array', items: { enum: ['read', 'write', 'none'] }, minItems: 1 },
          lineage: { type: 'array', items: { enum: ['root', 'child'] }, minItems: 1, uniqueItems: true, description: "root: the agent's first process; child: a process it spawned, which runs as the same agent" },
          tools: { ...stringList, description: 'globs on the tool name (SYS_EXEC)' },
          trust: {
            type: 'object',
            additionalProperties: false,
            required: ['below'],
            properties: { below: { type: 'integer', minimum: 1, maximum: 1000 } },
            description: "matches while the agent's trust score (0–1000: denials, violations and refused approvals lower it, clean time restores it) is below `below`",
          },
          args: {
            type: 'array',
            minItems: 1,
            maxItems: 64,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['arg'],
              minProperties: 2,
              maxProperties: 2,
              properties: {
                arg: { type: 'string', minLength: 1, maxLength: 128 },
                equals: { type: 'string', maxLength: 4096 },
                contains: { type: 'string', minLength: 1, maxLength: 4096 },
                glob: { type: 'string', minLength: 1, maxLength: 4096 },
                regex: { type: 'string', minLength: 1, maxLength: 4096, description: 'RE2 syntax: linear-time, no backreferences' },
              },
            },
          },
          when: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              days: { type: 'array', items: { enum: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] }, minItems: 1, uniqueItems: true },
              hours: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$' },
              timezone: { type: 'string', minLength: 1, maxLength: 64 },
            },
          },
          limits: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              max_calls: { type: 'integer', minimum: 0 },
              rate: {
                type: 'object',
                additionalProperties: false,
                required: ['count', 'per'],
                properties: { count: { type: 'integer', minimum: 1, maximum: 1_000_000 }, per: { enum: ['second', 'minute', 'hour'] } },
              },
              token_budget: { type: 'integer', minimum: 0 },
            },
          },
          on_violation: { enum: ['SIGPOLICY', 'SIGTRUST', 'SIGKILL', 'SIGTERM'] },
          risk: { enum: ['low', 'medium', 'high', 'critical'] },
          allow_flows: {
            type: 'array',
            items: { enum: ['vfs-to-exec'] },
            minItems: 1,
            uniqueItems: true,
            description: 'guarded flows this allow or require_approval rule lets through; vfs-to-exec: a tool executes content the agent wrote into its VFS',
          },
        },
      },
    },
  },
} as const;
