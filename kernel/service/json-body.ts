/**
 * agentd's JSON body parser: Fastify's own (prototype-poisoning refused), run
 * only on a body nested at most MAX_BODY_DEPTH deep. JSON.parse's time grows
 * with nesting, on the event loop: found by an attacker pass, one 4 MB body
 * of 2 million nested arrays held /healthz 0.76 s, eight in parallel 2.4 s,
 * before any check of the route ran. A body too deep is 400, cheaply: the
 * scan stops at the first level past the limit.
 */
import type { FastifyInstance } from 'fastify';

/** The deepest a request body may nest: agentd's own bodies are a few levels, a tool's arguments at most 16 (abi/limits.ts) within an MCP message. */
export const MAX_BODY_DEPTH = 64;

/** depthWithin: `text` (JSON) opens no more than `max` arrays and objects inside one another; strings are skipped. */
export function depthWithin(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: to its closing quote, escapes skipped.
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}

/** useJsonBodies installs the parser on `app` for application/json. */
export function useJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (!depthWithin(text, MAX_BODY_DEPTH)) {
      done(Object.assign(new Error(`the body is nested deeper than ${MAX_BODY_DEPTH}`), { statusCode: 400 }), undefined);
      return;
    }
    parse(req, text, done);
  });
}
