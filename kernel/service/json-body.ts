/**
 * agentd's JSON body parser: Fastify's own (prototype-poisoning refused), run
 * only on a body nested at most MAX_BODY_DEPTH deep. JSON.parse's time grows
 * with nesting, on the event loop: found by an attacker pass, one 4 MB body
 * of 2 million nested arrays held /healthz 0.76 s, eight in parallel 2.4 s,
 * before any check of the route ran. A body too deep, or with too many
 * arrays and objects, is 400, cheaply: the scan stops at the first past a
 * limit.
 */
import type { FastifyInstance } from 'fastify';
import { clipped } from './errors.ts';

/** The deepest a request body may nest: agentd's own bodies are a few levels, a tool's arguments at most 16 (abi/limits.ts) within an MCP message. */
export const MAX_BODY_DEPTH = 64;

/**
 * The most arrays and objects a request body may open in all. Depth alone did not bound the parse: found by an
 * attacker pass, 3.2 MB of arrays nested 58 deep, again and again, took JSON.parse 227 ms per /v1/mcp body, and 32
 * such bodies at once held /healthz 7 s. The cap is what one syscall's structured argument may hold (abi/limits.ts
 * jsonBytes: 8 units a value), so every call that could cross fits.
 */
export const MAX_BODY_CONTAINERS = 1 << 17;

/**
 * depthWithin: `text` (JSON) opens no more than `max` arrays and objects inside one another, and no more than
 * `containers` in all; strings are skipped.
 */
export function depthWithin(text: string, max: number, containers = Number.POSITIVE_INFINITY): boolean {
  let depth = 0;
  let opened = 0;
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
      if (++depth > max || ++opened > containers) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}

/** NOT_JSON begins the 415 for a body that is not sent as JSON. */
export const NOT_JSON = 'the body must be JSON, sent with content-type: application/json';

/**
 * useJsonBodies installs the parser on `app` for application/json, and
 * refuses a body of any other content type with 415 naming application/json
 * (Fastify's own text/plain parser handed such a body to the route as a
 * string, answered as `body: must be object`), unread.
 */
export function useJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (req, _payload, done) => {
    const type = req.headers['content-type'];
    const sent = type === undefined ? 'no content-type' : `content-type ${clipped(type)}`;
    done(Object.assign(new Error(`${NOT_JSON} (this one has ${sent})`), { statusCode: 415 }), undefined);
  });
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const containers = req.routeOptions.config?.bodyContainers ?? MAX_BODY_CONTAINERS;
    if (!depthWithin(text, MAX_BODY_DEPTH, containers)) {
      done(Object.assign(new Error(`the body is nested deeper than ${MAX_BODY_DEPTH}, or opens more than ${containers} arrays and objects`), { statusCode: 400 }), undefined);
      return;
    }
    parse(req, text, (err, parsed) => {
      if (err === null) return done(null, parsed);
      // Fastify's parser says only "not valid JSON": say which JSON fault, or that the JSON is valid but poisons a prototype.
      done(Object.assign(new Error(jsonFault(text)), { statusCode: 400 }), undefined);
    });
  });
}

/**
 * jsonFault says why `text` was refused as a body: JSON.parse's own message
 * (where the syntax breaks), or, for text that is valid JSON, that it holds
 * a `__proto__` key or `constructor.prototype` (refused against prototype
 * poisoning; it was reported as invalid JSON). Run only on a refused body,
 * one within the depth and container limits.
 */
function jsonFault(text: string): string {
  if (text.length === 0) return 'the body is empty, but its content-type is application/json';
  try {
    JSON.parse(text);
  } catch (err) {
    return `the body is not valid JSON: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}`;
  }
  return 'the body may not hold a __proto__ key or constructor.prototype (refused against prototype poisoning)';
}
