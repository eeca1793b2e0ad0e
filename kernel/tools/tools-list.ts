/**
 * The `tools.list` built-in: what the registry holds — name, description,
 * argument schema and risk — so an agent (or the model it asks) can choose
 * tools. Listing a tool grants nothing: each call is still decided by
 * capability and policy. `prefix` narrows the list (e.g. `mcp.`).
 */
import type { JsonObject, ToolRegistry, ToolSpec } from './registry.ts';

export function toolsListTool(registry: ToolRegistry): ToolSpec {
  return {
    name: 'tools.list',
    description: 'The tools this kernel offers: name, description, input schema (JSON Schema) and risk. Optional prefix filter.',
    inputSchema: { type: 'object', additionalProperties: false, properties: { prefix: { type: 'string', maxLength: 256 } } },
    risk: 'low',
    timeoutMs: 1000,
    maxOutputBytes: 1024 * 1024,
    source: 'builtin',
    run(args: JsonObject) {
      const prefix = typeof args.prefix === 'string' ? args.prefix : '';
      return registry
        .list()
        .filter((t) => t.name.startsWith(prefix))
        .map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema, risk: t.risk })) as unknown as JsonObject[];
    },
  };
}
