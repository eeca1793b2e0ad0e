/**
 * The `tools` and `mcp_servers` configuration sections: what they build, and
 * a clear `file: field: problem` for each kind of mistake.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRegistry, defaultRegistry, loadToolsConfig, parseToolsConfig, ToolsConfigError } from '../../kernel/tools/config.ts';
import { KernelError } from '../../abi/errno.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-kernel-tools-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const file = join(dir, 'agentd.yaml');
  writeFileSync(file, yaml);
  return loadToolsConfig(file);
}

const CALLER = { pid: 1, agentId: 'a', addTokens: () => {} };

describe('tools configuration', () => {
  it('no sections: time.now, tools.list and http.fetch; other sections of the file are not looked at', async () => {
    const registry = await buildRegistry(load('listen: { port: 7070 }\npolicy: p.yaml\n'));
    expect(registry.list().map((t) => [t.name, t.risk, t.source])).toEqual([
      ['http.fetch', 'medium', 'builtin'],
      ['time.now', 'low', 'builtin'],
      ['tools.list', 'low', 'builtin'],
    ]);
    expect(defaultRegistry().list().map((t) => t.name)).toEqual(['http.fetch', 'time.now', 'tools.list']);
    expect(defaultRegistry()).toBe(defaultRegistry());
    expect(() => defaultRegistry().register(registry.info('time.now') as never)).toThrow(/sealed/);
    const listed = registry.call('tools.list', { prefix: 'time.' }, CALLER);
    expect(listed).toMatchObject({ output: [{ name: 'time.now', risk: 'low', inputSchema: { type: 'object' } }] });
  });

  it('builds built-ins with their limits, llm.chat with a key from the environment, and commands', async () => {
    process.env.AGENT_KERNEL_TEST_KEY = 'sk-from-env';
    const config = load(
      [
        'tools:',
        '  builtin:',
        '    http.fetch: { timeout_ms: 1234, max_output_bytes: 4096 }',
        '    llm.chat: { endpoint: "http://127.0.0.1:9/v1", model: m1, api_key_env: AGENT_KERNEL_TEST_KEY }',
        '  commands:',
        '    word.count:',
        `      command: [${process.execPath}, -e, "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>process.stdout.write(JSON.stringify({ words: JSON.parse(s).text.split(' ').length })))"]`,
        '      description: counts words',
        '      input_schema: { type: object, required: [text], properties: { text: { type: string } } }',
        '      output: json',
        '      risk: low',
        '',
      ].join('\n'),
    );
    const registry = await buildRegistry(config);
    expect(registry.list().map((t) => t.name)).toEqual(['http.fetch', 'llm.chat', 'word.count']);
    expect(registry.info('http.fetch')).toMatchObject({ timeoutMs: 1234, maxOutputBytes: 4096 });
    expect(JSON.stringify(registry.info('llm.chat'))).not.toContain('sk-from-env');
    expect(await registry.call('word.count', { text: 'one two three' }, CALLER)).toMatchObject({ output: { words: 3 } });
    expect(() => registry.call('word.count', {}, CALLER)).toThrow(KernelError);
  });

  it.each([
    ['tools: { builtin: { shell: {} } }', "tools.builtin.shell: is not a known field"],
    ['tools: { builtin: { llm.chat: { model: m } } }', "tools.builtin.llm.chat.endpoint: is required"],
    ['tools: { builtin: { llm.chat: { endpoint: "ftp://x", model: m } } }', 'tools.builtin.llm.chat.endpoint: must match pattern'],
    ['tools: { builtin: { http.fetch: { timeout_ms: 0 } } }', 'tools.builtin.http.fetch.timeout_ms: must be >= 1'],
    ['tools: { builtin: { http.fetch: { allow_addresses: ["127.0.0.1/8"] } } }', "tools.builtin.http.fetch.allow_addresses[0]: '127.0.0.1/8' has host bits set; the range is 127.0.0.0/8"],
    ['tools: { builtin: { http.fetch: { allow_addresses: ["::1/128", localhost] } } }', "tools.builtin.http.fetch.allow_addresses[1]: 'localhost' is not an address or CIDR range"],
    ['tools: { builtin: { http.fetch: { allow_addresses: 127.0.0.0/8 } } }', 'tools.builtin.http.fetch.allow_addresses: must be array'],
    ['tools: { commands: { "bad name": { command: [x], description: d } } }', "tools.commands: name 'bad name' is not allowed"],
    ['tools: { commands: { ok: { description: d } } }', 'tools.commands.ok.command: is required'],
    ['tools: { commands: { ok: { command: [x], description: d, risk: extreme } } }', 'tools.commands.ok.risk: must be one of low, medium, high, critical'],
    ['mcp_servers: { m: {} }', 'mcp_servers.m: give either command (and args, env, cwd, stderr) for a stdio server, or url (and headers) for streamable HTTP'],
    ['mcp_servers: { m: { command: x, url: "http://h/mcp" } }', 'mcp_servers.m: give either command'],
    ['mcp_servers: { "m.x": { command: x } }', "mcp_servers: name 'm.x' is not allowed"],
    ['mcp_servers: { m: { command: x, executes: { run: code } } }', 'mcp_servers.m.executes.run: must be array'],
    ['tools: [1, 2]', 'tools: must be object,null'],
  ])('%s → %s', (yaml, problem) => {
    expect(() => load(`${yaml}\n`)).toThrow(ToolsConfigError);
    expect(() => load(`${yaml}\n`)).toThrow(`${join(dir, 'agentd.yaml')}: ${problem}`);
  });

  it('a missing API key variable, a YAML syntax error and a duplicate tool name are errors too', async () => {
    delete process.env.AGENT_KERNEL_MISSING_KEY;
    const missing = load('tools: { builtin: { llm.chat: { endpoint: "http://127.0.0.1:9/v1", model: m, api_key_env: AGENT_KERNEL_MISSING_KEY } } }\n');
    await expect(buildRegistry(missing)).rejects.toThrow('tools.builtin.llm.chat.api_key_env: environment variable AGENT_KERNEL_MISSING_KEY is not set');
    expect(() => load('tools: { builtin: [\n')).toThrow(/agentd\.yaml: /);
    const dup = parseToolsConfig({ tools: { builtin: { 'time.now': {} }, commands: { 'time.now': { command: ['true'], description: 'd' } } } }, 'dup.yaml');
    await expect(buildRegistry(dup)).rejects.toThrow("dup.yaml: tool 'time.now' is already registered");
  });
});
