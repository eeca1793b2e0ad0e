/** The `time.now` built-in: the kernel's clock, the one fact every agent loop asks for. */
import type { ToolSpec } from './registry.ts';

export function timeNowTool(clock: () => number = Date.now): ToolSpec {
  return {
    name: 'time.now',
    description: 'The current time: ISO 8601 (UTC) and milliseconds since the epoch.',
    inputSchema: { type: 'object', additionalProperties: false, properties: {} },
    risk: 'low',
    timeoutMs: 1000,
    maxOutputBytes: 256,
    source: 'builtin',
    run() {
      const ms = clock();
      return { iso: new Date(ms).toISOString(), epochMs: ms };
    },
  };
}
