/**
 * The tool registry's contract, directly and through real agents: schema
 * errors, timeouts (the tool's signal aborts), output limits, failing tools,
 * denied, approved and refused calls.
 */
import { describe, expect, it } from 'vitest';
import { fixedApprover } from '../../kernel/approvals.ts';
import { ToolRegistry, type ToolCaller, type ToolSpec } from '../../kernel/tools/registry.ts';
import { KernelError } from '../../abi/errno.ts';
import { syscallRecords, log } from '../syscalls/harness.ts';
import { echoTool, execReport, policy, sleepTool, toolKernel, TRY } from './helpers.ts';

const CALLER: ToolCaller = { pid: 1, agentId: 'a', addTokens: () => {} };

function failing(name: string, error: unknown, async = false): ToolSpec {
  return { ...echoTool(name), run: () => (async ? Promise.reject(error) : (() => { throw error; })()) };
}

async function errorOf(run: () => unknown): Promise<{ errno: string; message: string } | 'ok'> {
  try {
    await run();
    return 'ok';
  } catch (err) {
    if (!(err instanceof KernelError)) throw err;
    return { errno: err.errno, message: err.message };
  }
}

describe('ToolRegistry', () => {
  it('refuses malformed names, duplicate names and schemas that do not compile', () => {
    const r = new ToolRegistry();
    r.register(echoTool('a.b'));
    expect(() => r.register(echoTool('a.b'))).toThrow(/already registered/);
    expect(() => r.register(echoTool('has space'))).toThrow(/bad tool name/);
    expect(() => r.register(echoTool('.dot'))).toThrow(/bad tool name/);
    expect(() => r.register({ ...echoTool('bad.schema'), inputSchema: { type: 'nonsense' } })).toThrow(/input schema does not compile/);
    expect(r.list().map((t) => t.name)).toEqual(['a.b']);
  });

  it("runs a schema's patterns with RE2, linear in the input (an MCP server writes its tools' schemas: `^(a|a)*$` held the event loop 4.2 s on 28 characters); ECMAScript's escapes are rewritten, and a pattern RE2 cannot run is not checked", async () => {
    const r = new ToolRegistry();
    r.register({ ...echoTool('re.dos'), inputSchema: { type: 'object', properties: { s: { type: 'string', pattern: '^(a|a)*$' } } } });
    // 2^60 steps for a backtracking engine: the test would never end.
    expect(await errorOf(() => r.call('re.dos', { s: `${'a'.repeat(60)}b` }, CALLER))).toMatchObject({ errno: 'EINVAL' });
    expect(await errorOf(() => r.call('re.dos', { s: 'a'.repeat(60) }, CALLER))).toBe('ok');
    // ECMAScript's spellings RE2 writes otherwise (found by a review: they failed the whole configuration).
    r.register({ ...echoTool('escapes'), inputSchema: { type: 'object', properties: { s: { type: 'string', pattern: '^[^\\u0000-\\u001f]*$' }, t: { type: 'string', pattern: '^\\p{Letter}+$' } } } });
    expect(await errorOf(() => r.call('escapes', { s: 'é ok', t: 'Ωmega' }, CALLER))).toBe('ok');
    expect(await errorOf(() => r.call('escapes', { s: 'bell\u0007' }, CALLER))).toMatchObject({ errno: 'EINVAL' });
    expect(await errorOf(() => r.call('escapes', { t: 'no digits 1' }, CALLER))).toMatchObject({ errno: 'EINVAL' });
    // A lookaround RE2 cannot run (zod's hostname pattern has one): registered, that pattern not checked in ring 0.
    r.register({ ...echoTool('look.around'), inputSchema: { type: 'object', properties: { s: { type: 'string', pattern: '^(?=a)a$' } } } });
    expect(await errorOf(() => r.call('look.around', { s: 'b' }, CALLER))).toBe('ok');
  });

  it('EINVAL names the first schema error; null arguments are an empty object', async () => {
    const r = new ToolRegistry();
    r.register({
      ...echoTool('s'),
      inputSchema: { type: 'object', required: ['n'], additionalProperties: false, properties: { n: { type: 'integer', maximum: 3 }, tags: { type: 'array', items: { type: 'string' } } } },
    });
    expect(await errorOf(() => r.call('s', null, CALLER))).toEqual({ errno: 'EINVAL', message: "tool 's': args: missing argument 'n'" });
    expect(await errorOf(() => r.call('s', { n: 9 }, CALLER))).toEqual({ errno: 'EINVAL', message: "tool 's': args.n: must be <= 3" });
    expect(await errorOf(() => r.call('s', { n: 1, tags: ['a', 2] }, CALLER))).toEqual({ errno: 'EINVAL', message: "tool 's': args.tags.1: must be string" });
    expect(await errorOf(() => r.call('s', { n: 1, x: 0 }, CALLER))).toEqual({ errno: 'EINVAL', message: "tool 's': args: unknown argument 'x'" });
    expect(r.call('s', { n: 1 }, CALLER)).toMatchObject({ tool: 's', output: { n: 1 } });
  });

  it('a synchronous tool answers synchronously; an asynchronous one with a promise', async () => {
    const r = new ToolRegistry();
    r.register(echoTool('sync'));
    r.register({ ...echoTool('async'), run: (args) => Promise.resolve(args) });
    expect(r.call('sync', { a: 1 }, CALLER)).toEqual({ tool: 'sync', output: { a: 1 }, bytes: 7, ms: expect.any(Number) });
    const pending = r.call('async', { a: 1 }, CALLER);
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toMatchObject({ tool: 'async', output: { a: 1 }, bytes: 7 });
  });

  it('ETIMEDOUT after the timeout, and the tool’s signal is aborted with the same error', async () => {
    const r = new ToolRegistry();
    let reason: unknown;
    r.register(sleepTool('slow', 50, (why) => (reason = why)));
    // The sleep is a minute, past the test's timeout: the answer can only be the timeout's.
    expect(await errorOf(() => r.call('slow', { ms: 60_000 }, CALLER))).toEqual({ errno: 'ETIMEDOUT', message: "tool 'slow' timed out after 50 ms" });
    expect(reason).toBeInstanceOf(KernelError);
    expect(await r.call('slow', { ms: 1 }, CALLER)).toMatchObject({ output: 'done' });
  });

  it('EFBIG when the output is over the limit, counted as bytes of its JSON text', async () => {
    const r = new ToolRegistry();
    r.register(echoTool('big', 100));
    expect((r.call('big', { bytes: 98 }, CALLER) as { bytes: number }).bytes).toBe(100);
    expect(await errorOf(() => r.call('big', { bytes: 99 }, CALLER))).toEqual({ errno: 'EFBIG', message: "tool 'big' output is 101 bytes, over its limit of 100" });
    r.register({ ...echoTool('big.async', 100), run: () => Promise.resolve('é'.repeat(60)) });
    expect(await errorOf(() => r.call('big.async', {}, CALLER))).toEqual({ errno: 'EFBIG', message: "tool 'big.async' output is 122 bytes, over its limit of 100" });
  });

  it('a failing tool is EIO with its message (or its own errno), never a host exception', async () => {
    const r = new ToolRegistry();
    r.register(failing('throws', new TypeError('boom')));
    r.register(failing('rejects', new Error('bad gateway'), true));
    r.register(failing('rejects.string', 'plain string', true));
    r.register(failing('own.errno', new KernelError('EAGAIN', 'busy, try later'), true));
    r.register({ ...echoTool('cyclic'), run: () => { const o: Record<string, unknown> = {}; o.self = o; return o as never; } });
    expect(await errorOf(() => r.call('throws', {}, CALLER))).toEqual({ errno: 'EIO', message: "tool 'throws' failed: boom" });
    expect(await errorOf(() => r.call('rejects', {}, CALLER))).toEqual({ errno: 'EIO', message: "tool 'rejects' failed: bad gateway" });
    expect(await errorOf(() => r.call('rejects.string', {}, CALLER))).toEqual({ errno: 'EIO', message: "tool 'rejects.string' failed: plain string" });
    expect(await errorOf(() => r.call('own.errno', {}, CALLER))).toEqual({ errno: 'EAGAIN', message: 'busy, try later' });
    expect(await errorOf(() => r.call('cyclic', {}, CALLER))).toMatchObject({ errno: 'EIO', message: expect.stringContaining("tool 'cyclic' failed: output is not JSON data") });
    expect(await errorOf(() => r.call('missing', {}, CALLER))).toEqual({ errno: 'ENOENT', message: "no tool 'missing'" });
  });
});

describe('SYS_EXEC through agents', () => {
  const ALLOW = "{ id: tools, effect: allow, syscalls: [SYS_EXEC], tools: ['test.*', time.now] }";

  it('denied by a rule, by default, and by the capability check, each recorded', async () => {
    const kernel = toolKernel({ policy: policy(ALLOW, "{ id: no-echo, effect: deny, syscalls: [SYS_EXEC], tools: [test.echo], reason: 'echo is off' }"), tools: [echoTool(), echoTool('other.echo')] });
    const value = await execReport(kernel, `${TRY}report([tryExec('test.echo', {}), tryExec('other.echo', {}), tryExec('time.now', {}).epochMs > 0]);`);
    expect(value).toEqual([
      { errno: 'EACCES', message: 'SYS_EXEC denied by no-echo: echo is off' },
      { errno: 'EACCES', message: 'SYS_EXEC denied by default-deny: no rule matches' },
      true,
    ]);
    expect(syscallRecords(kernel, 'SYS_EXEC').map((r) => [r.effect, r.rule])).toEqual([['deny', 'no-echo'], ['deny', 'default-deny'], ['allow', 'tools']]);
  });

  it('require_approval: approved runs the tool, refused is EACCES, both recorded with the approver', async () => {
    const rules = [ALLOW, "{ id: ask, effect: require_approval, syscalls: [SYS_EXEC], tools: ['test.echo'] }"];
    const yes = toolKernel({ policy: policy(...rules), tools: [echoTool()], approver: fixedApprover(true) });
    expect(await execReport(yes, `${TRY}report(tryExec('test.echo', { a: 1 }));`)).toEqual({ a: 1 });
    const no = toolKernel({ policy: policy(...rules), tools: [echoTool()], approver: fixedApprover(false) });
    expect(await execReport(no, `${TRY}report(tryExec('test.echo', { a: 1 }));`)).toEqual({ errno: 'EACCES', message: 'SYS_EXEC not approved by auto:deny: --approve=deny' });
    const approvals = (k: typeof yes) => log(k).filter((r) => r.type === 'approval').map((r) => (r as { detail: string }).detail);
    expect(approvals(yes)).toEqual(['granted SYS_EXEC test.echo by auto:allow: --approve=allow']);
    expect(approvals(no)).toEqual(['denied SYS_EXEC test.echo by auto:deny: --approve=deny']);
  });

  it('an operator answers while only the calling agent waits', async () => {
    const kernel = toolKernel({ policy: policy(ALLOW, "{ id: ask, effect: require_approval, syscalls: [SYS_EXEC], tools: ['test.echo'] }"), tools: [echoTool()] });
    const answered = new Promise<void>((resolve) => {
      const sub = kernel.approvals.events.subscribe((e) => {
        if (e.kind !== 'asked') return;
        expect(e.approval).toMatchObject({ syscall: 'SYS_EXEC', tool: 'test.echo', rule: 'ask', agentId: 'tester' });
        setTimeout(() => {
          kernel.approvals.answer(e.approval.id, true, 'operator:ada', 'looks fine');
          sub.unsubscribe();
          resolve();
        }, 50);
      });
    });
    const value = await execReport(kernel, `${TRY}report(tryExec('test.echo', { ok: true }));`);
    await answered;
    expect(value).toEqual({ ok: true });
  });

  it('a timed-out tool is ETIMEDOUT for the agent, which keeps running', async () => {
    const kernel = toolKernel({ policy: policy(ALLOW), tools: [sleepTool('test.sleep', 100)] });
    // The sleep is a minute, past the test's timeout: the answer can only be the timeout's.
    const value = await execReport(kernel, `${TRY}report({ r: tryExec('test.sleep', { ms: 60000 }), after: tryExec('test.sleep', { ms: 1 }) });`);
    expect(value).toEqual({ r: { errno: 'ETIMEDOUT', message: "tool 'test.sleep' timed out after 100 ms" }, after: 'done' });
  });

  it('output limits: EFBIG past the tool’s limit, the agent keeps running', async () => {
    const kernel = toolKernel({ policy: policy(ALLOW), tools: [echoTool('test.big', 1000)] });
    const value = await execReport(kernel, `${TRY}report([tryExec('test.big', { bytes: 998 }).length, tryExec('test.big', { bytes: 5000 })]);`);
    expect(value).toEqual([998, { errno: 'EFBIG', message: "tool 'test.big' output is 5002 bytes, over its limit of 1000" }]);
  });
});
