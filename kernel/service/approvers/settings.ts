/**
 * The `approvals.chain` section of agentd's configuration: automated
 * approvers asked in order before a person (approvers/chain.ts).
 *
 *   approvals:
 *     mode: chain
 *     chain:
 *       - command: { argv: [./review.sh], name: review, timeout_ms: 5000 }
 *       - reviewer: { model: gpt-4o-mini, timeout_ms: 20000, may_approve: false, instructions: "…" }
 */
import { basename, isAbsolute, resolve } from 'node:path';
import type { CommandSettings } from './command.ts';
import type { ReviewerSettings } from './reviewer.ts';

export type ChainSettings = { readonly command: CommandSettings } | { readonly reviewer: ReviewerSettings };

export interface RawChainStep {
  command?: { argv: string[]; name?: string; timeout_ms?: number };
  reviewer?: { model?: string; timeout_ms?: number; may_approve?: boolean; instructions?: string };
}

/** The JSON Schema of one step (config-schema.ts's AGENTD_CONFIG_SCHEMA holds it). */
export const CHAIN_STEP_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    command: {
      type: 'object',
      additionalProperties: false,
      required: ['argv'],
      properties: {
        argv: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', minLength: 1 } },
        name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
        timeout_ms: { type: 'integer', minimum: 1, maximum: 600_000 },
      },
    },
    reviewer: {
      type: 'object',
      additionalProperties: false,
      properties: {
        model: { type: 'string', minLength: 1, maxLength: 200 },
        timeout_ms: { type: 'integer', minimum: 1, maximum: 600_000 },
        may_approve: { type: 'boolean' },
        instructions: { type: 'string', maxLength: 8000 },
      },
    },
  },
} as const;

/** chainSettings reads approvals.chain; `problem` is called with what is wrong (it throws). */
export function chainSettings(mode: string | undefined, raw: readonly RawChainStep[] | undefined, base: string, problem: (why: string) => never): { chain?: readonly ChainSettings[] } {
  if (mode !== 'chain') {
    if (raw !== undefined) problem(`approvals.chain is set but approvals.mode is ${mode ?? 'operator'}: set mode: chain`);
    return {};
  }
  if (raw === undefined || raw.length === 0) problem('approvals.mode chain needs approvals.chain: a list of { command: … } or { reviewer: … }');
  return {
    chain: raw.map((step): ChainSettings => {
      if (step.command !== undefined) {
        const [program, ...rest] = step.command.argv;
        // A program named by a path is found from the configuration's directory; a bare name on PATH.
        const argv0 = program!.includes('/') && !isAbsolute(program!) ? resolve(base, program!) : program!;
        return { command: { argv: [argv0, ...rest], name: step.command.name ?? basename(argv0), cwd: base, timeoutMs: step.command.timeout_ms ?? 10_000 } };
      }
      const r = step.reviewer!;
      return { reviewer: { ...(r.model !== undefined ? { model: r.model } : {}), timeoutMs: r.timeout_ms ?? 30_000, mayApprove: r.may_approve ?? false, ...(r.instructions !== undefined ? { instructions: r.instructions } : {}) } };
    }),
  };
}
