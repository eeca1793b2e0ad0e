/**
 * Helpers for the tool tests: policies from YAML lines, kernels with a tool
 * registry, agents that report JSON, a loopback HTTP server, and tool specs
 * for timing and output limits.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Approver } from '../../kernel/approvals.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { ToolRegistry, type ToolSpec } from '../../kernel/tools/registry.ts';
import { timeNowTool } from '../../kernel/tools/time-now.ts';
import { report } from '../syscalls/harness.ts';

/** REPO is the repository root. */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** MEMORY_SERVER is @modelcontextprotocol/server-memory's entry point, as installed from npm. */
export const MEMORY_SERVER = join(dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/server-memory/package.json')), 'dist', 'index.js');

/**
 * clockAndMemory is the `tools` and `mcp_servers` sections of an agentd
 * configuration, as YAML lines: the built-in clock, and the memory MCP server
 * from npm keeping its graph in `memoryFile`.
 */
export function clockAndMemory(memoryFile: string): string[] {
  return ['tools:', '  builtin:', '    time.now: {}', 'mcp_servers:', '  memory:', `    command: ${process.execPath}`, `    args: [${MEMORY_SERVER}]`, `    env: { MEMORY_FILE_PATH: ${memoryFile} }`, '    stderr: ignore'];
}

/** policy parses a policy whose rules are the given YAML flow mappings (stdout writes are always allowed). */
export function policy(...rules: string[]): LoadedPolicy {
  const lines = ['version: 1', 'defaults: { approval_timeout_ms: 5000 }', 'rules:', '  - { id: stdio, effect: allow, syscalls: [SYS_WRITE, SYS_OPEN, SYS_READ, SYS_CLOSE, SYS_EXIT, SYS_CHECKPOLICY] }'];
  for (const r of rules) lines.push(`  - ${r}`);
  return parsePolicy(`${lines.join('\n')}\n`, 'tools-test.yaml');
}

/** toolKernel is a kernel with `tools` (and time.now) under `policy`. */
export function toolKernel(options: { policy: LoadedPolicy; tools?: readonly ToolSpec[]; registry?: ToolRegistry; approver?: Approver }): Kernel {
  const registry = options.registry ?? new ToolRegistry();
  if (!registry.has('time.now')) registry.register(timeNowTool());
  for (const t of options.tools ?? []) registry.register(t);
  return new Kernel({ policy: options.policy, tools: registry, approver: options.approver, stdout: () => {}, stderr: () => {} });
}

/** ALL_TOOLS is the manifest of an agent holding every tool capability. */
export const ALL_TOOLS = { capabilities: ['tool:*'] };

/** execReport runs `body` as an agent with every tool capability and returns what it reported. */
export async function execReport<T = unknown>(kernel: Kernel, body: string, agentId = 'tester'): Promise<T> {
  const { value } = await report<T>(body, { kernel, agentId, manifest: ALL_TOOLS });
  return value;
}

/** TRY is agent source for `tryExec(tool, args)`: the result's output, or { errno, message }. */
export const TRY = "const tryExec = (tool, args) => { try { return sys.exec(tool, args).output; } catch (e) { return { errno: e.errno, message: e.message }; } };\n";

/** sleepTool waits `ms` (honouring the abort signal) and returns 'done'. */
export function sleepTool(name: string, timeoutMs: number, aborted?: (reason: unknown) => void): ToolSpec {
  return {
    name,
    description: 'sleeps',
    inputSchema: { type: 'object', required: ['ms'], properties: { ms: { type: 'integer', minimum: 0 } }, additionalProperties: false },
    risk: 'low',
    timeoutMs,
    maxOutputBytes: 1024,
    source: 'test',
    run(args, call) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve('done'), args.ms as number);
        call.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          aborted?.(call.signal.reason);
        });
      });
    },
  };
}

/** echoTool returns its arguments; `bytes` makes it return a string of that many bytes instead. */
export function echoTool(name = 'test.echo', maxOutputBytes = 1024): ToolSpec {
  return {
    name,
    description: 'echoes its arguments, or { bytes: n } characters',
    inputSchema: { type: 'object', properties: { bytes: { type: 'integer', minimum: 0 } } },
    risk: 'low',
    timeoutMs: 1000,
    maxOutputBytes,
    source: 'test',
    run: (args) => (typeof args.bytes === 'number' ? 'x'.repeat(args.bytes) : args),
  };
}

export interface LocalServer {
  readonly url: string;
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

/** localServer serves `handle` on 127.0.0.1 (a free port) and keeps every request it saw. */
export async function localServer(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<LocalServer> {
  const requests: LocalServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => void (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handle(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * stackedGzipBomb is a body served with `Content-Encoding: gzip, gzip, gzip`
 * (an attacker pass): a few KB that the outer stages inflate to a gzip member
 * of `mib` MiB whose header comment holds all of it, so the last stage yields
 * nothing: a limit counted on what the last stage yields never trips.
 */
export function stackedGzipBomb(mib: number): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0x10, 0, 0, 0, 0, 0, 0xff]);
  const empty = Buffer.from([0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
  const member = Buffer.concat([header, Buffer.alloc(mib * 2 ** 20, 'a'), Buffer.from([0]), empty]);
  return gzipSync(gzipSync(member, { level: 9 }), { level: 9 });
}

/** STACKED is the encoding header of stackedGzipBomb's body. */
export const STACKED = 'gzip, gzip, gzip';

