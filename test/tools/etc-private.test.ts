/**
 * What the host keeps from its other users under /etc, a command tool does
 * not see (kernel/tools/sandbox-mounts.ts etcPrivate). The sandbox runs as
 * the kernel's own user, so before this an attacker pass read a webhook
 * secret (0600 in a 0700 directory under /etc) from a tool. Real bwrap, real
 * files under /etc (so only as root, as CI runs).
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { buildRegistry, parseToolsConfig } from '../../kernel/tools/config.ts';
import type { ToolRegistry } from '../../kernel/tools/registry.ts';

const root = process.getuid?.() === 0;
const DIR = `/etc/agent-kernel-test-${process.pid}`;
const PY = ['python3', '-c', 'import json, sys; exec(json.load(sys.stdin)["code"])'];
let registry: ToolRegistry | undefined;

beforeAll(() => {
  if (!root) return;
  // Made before the first sandbox: the system's layout is read once per process.
  mkdirSync(join(DIR, 'private'), { recursive: true });
  writeFileSync(join(DIR, 'private', 'webhook.secret'), 'hmac-0123456789');
  chmodSync(join(DIR, 'private'), 0o700);
  writeFileSync(join(DIR, 'key.pem'), 'PRIVATE KEY');
  chmodSync(join(DIR, 'key.pem'), 0o600);
  writeFileSync(join(DIR, 'public.conf'), 'shared');
  chmodSync(join(DIR, 'public.conf'), 0o644);
});

afterAll(async () => {
  await registry?.close();
  if (root) rmSync(DIR, { recursive: true, force: true });
});

async function read(path: string): Promise<string> {
  registry ??= await buildRegistry(parseToolsConfig({ tools: { builtin: {}, commands: { py: { command: PY, description: 'runs python' } } } }, join(process.cwd(), 'tools.yaml')));
  try {
    const out = await registry.call('py', { code: `print(open(${JSON.stringify(path)}).read())` } as never, { pid: 1, agentId: 'a', addTokens: () => {} });
    return (out.output as { stdout: string }).stdout.trim();
  } catch (err) {
    if (err instanceof KernelError) return /(\w+Error): /.exec(err.message)?.[1] ?? err.message;
    throw err;
  }
}

describe.skipIf(!root)('files under /etc that other users may not read', () => {
  it('are hidden from command tools, in a private directory or not; what others may read stays', async () => {
    expect(await read(join(DIR, 'private', 'webhook.secret'))).toBe('FileNotFoundError');
    expect(['', 'PermissionError']).toContain(await read(join(DIR, 'key.pem')));
    expect(await read(join(DIR, 'public.conf'))).toBe('shared');
    expect(await read('/etc/hostname')).not.toMatch(/Error$/);
  }, 30_000);

  it('one the operator binds for a tool (its cwd) is shown to that tool: the operator chose it (every call failed before)', async () => {
    const bound = await buildRegistry(parseToolsConfig({ tools: { builtin: {}, commands: { py: { command: PY, description: 'runs python', cwd: join(DIR, 'private') } } } }, join(process.cwd(), 'tools.yaml')));
    try {
      const out = await bound.call('py', { code: "print(open('webhook.secret').read())" } as never, { pid: 1, agentId: 'a', addTokens: () => {} });
      expect((out.output as { stdout: string }).stdout).toBe('hmac-0123456789\n');
    } finally {
      await bound.close();
    }
  }, 30_000);
});
