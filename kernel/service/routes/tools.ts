/**
 * Tools (operator only): `GET /v1/tools` lists agentd's tools with their
 * risk, source and, for upstream MCP tools, their pin (kernel/tools/tool-pins.ts):
 * the digest approved, the digest now, `pinned` or `held`.
 * `POST /v1/tools/{name}/approve` pins what a held tool says now and offers
 * it again (recorded, with who approved).
 */
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../access.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';
import { answeredBy } from '../principals.ts';

const PIN = {
  type: 'object',
  properties: { name: { type: 'string' }, source: { type: 'string' }, digest: { type: 'string' }, pinned: { type: 'string' }, state: { enum: ['pinned', 'held'] }, pinnedAt: { type: 'number' }, by: { type: 'string' } },
} as const;
const TOOL = {
  type: 'object',
  properties: { name: { type: 'string' }, source: { type: 'string' }, risk: { type: 'string' }, description: { type: 'string' }, held: { type: 'string' }, pin: PIN },
} as const;
const NAME_PARAMS = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 256 } } } as const;
const APPROVE_BODY = { type: ['object', 'null'], additionalProperties: false, properties: { as: { type: 'string', minLength: 1, maxLength: 128 } } } as const;

export function toolRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const registry = ctx.kernel.tools;
  const pins = ctx.pins;
  app.get('/v1/tools', { schema: { summary: "agentd's tools, held ones included, with the pins of upstream MCP tools", response: { 200: { type: 'array', items: TOOL } } } }, () =>
    registry.names().map((name) => {
      const info = registry.info(name)!;
      const held = registry.heldReason(name);
      const pin = pins.state(name);
      return { name, source: info.source, risk: info.risk, description: info.description, ...(held === undefined ? {} : { held }), ...(pin === undefined ? {} : { pin }) };
    }),
  );

  app.post<{ Params: { name: string }; Body: { as?: string } | null }>(
    '/v1/tools/:name/approve',
    { schema: { summary: 'Pin what an upstream tool says now (its description and schema) and offer it again', params: NAME_PARAMS, body: APPROVE_BODY, response: { 200: PIN, '4xx': PROBLEM } } },
    (req, reply) => {
      try {
        return pins.approve(req.params.name, answeredBy(principalOf(req), req.body?.as));
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );
}
