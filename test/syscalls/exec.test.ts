import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { ALLOW_ALL, permissiveKernel, report, syscallRecords } from './harness.ts';
import { echoTool, policy, toolKernel } from '../tools/helpers.ts';

const TOOLS = { manifest: { capabilities: ['tool:*'] } };

describe('SYS_EXEC', () => {
  it('EACCES without a tool capability, under the default policy, with and without arguments', async () => {
    const { value } = await report(`
      report({
        bare: raw(SYS.SYS_EXEC, 'time.now'),
        args: raw(SYS.SYS_EXEC, 'search', { query: 'cats', limit: 3, tags: ['a', null, true] }),
        nullArgs: raw(SYS.SYS_EXEC, 'time.now', null),
        wrapper: errnoOf(() => sys.exec('time.now', {})),
        protoKey: raw(SYS.SYS_EXEC, 'ls', JSON.parse('{"__proto__": {"x": 1}}')),
      });
    `);
    expect(value).toEqual({ bare: { errno: 'EACCES' }, args: { errno: 'EACCES' }, nullArgs: { errno: 'EACCES' }, wrapper: 'EACCES', protoKey: { errno: 'EACCES' } });
  });

  it('EACCES without a tool capability even when the policy allows everything', async () => {
    const { value } = await report("report(syscall(SYS.SYS_EXEC, 'time.now'));", { kernel: permissiveKernel(), manifest: { capabilities: ['tool:grep'] } });
    expect(value).toEqual({ errno: 'EACCES', message: 'SYS_EXEC denied by capability: no capability tool:time.now' });
  });

  it('EACCES under the default policy with a capability: no rule allows a tool', async () => {
    const { value } = await report("report(syscall(SYS.SYS_EXEC, 'time.now'));", TOOLS);
    expect(value).toEqual({ errno: 'EACCES', message: 'SYS_EXEC denied by default-deny: no rule matches' });
  });

  it('runs a tool once capability and policy allow it, and returns { tool, output, bytes, ms }', async () => {
    // time.now reads the kernel's clock, here a fixed one.
    const now = Date.UTC(2030, 0, 2, 3, 4, 5, 6);
    const { value } = await report("const r = sys.exec('time.now'); report({ r, raw: syscall(SYS.SYS_EXEC, 'time.now', {}).v.tool });", { kernel: new Kernel({ policy: ALLOW_ALL, clock: () => now }), ...TOOLS });
    const r = (value as { r: { tool: string; output: { iso: string; epochMs: number }; bytes: number; ms: number } }).r;
    expect(r.tool).toBe('time.now');
    expect(r.output).toMatchObject({ iso: '2030-01-02T03:04:05.006Z', epochMs: now });
    expect(r.bytes).toBe(JSON.stringify(r.output).length);
    expect(r.ms).toBeGreaterThanOrEqual(0);
    expect((value as { raw: string }).raw).toBe('time.now');
  });

  it('ENOENT for an unknown tool, EINVAL with the schema error for bad tool arguments', async () => {
    const { value } = await report(`
      report({
        unknown: syscall(SYS.SYS_EXEC, 'no.such.tool', {}),
        extra: syscall(SYS.SYS_EXEC, 'time.now', { x: 1 }),
        notObject: syscall(SYS.SYS_EXEC, 'time.now', [1, 2]),
        missing: syscall(SYS.SYS_EXEC, 'http.fetch', {}),
        wrongType: syscall(SYS.SYS_EXEC, 'http.fetch', { url: 42 }),
        badEnum: syscall(SYS.SYS_EXEC, 'http.fetch', { url: 'https://example.com/', method: 'DELETE' }),
      });
    `, { kernel: permissiveKernel(), ...TOOLS });
    expect(value).toEqual({
      unknown: { errno: 'ENOENT', message: "no tool 'no.such.tool'" },
      extra: { errno: 'EINVAL', message: "tool 'time.now': args: unknown argument 'x'" },
      notObject: { errno: 'EINVAL', message: "tool 'time.now': args: must be object" },
      missing: { errno: 'EINVAL', message: "tool 'http.fetch': args: missing argument 'url'" },
      wrongType: { errno: 'EINVAL', message: "tool 'http.fetch': args.url: must be string" },
      badEnum: { errno: 'EINVAL', message: 'tool \'http.fetch\': args.method: must be one of "GET", "POST"' },
    });
  });

  it('EINVAL before any check for malformed arguments, since decoding comes first', async () => {
    const { value } = await report(`
      let deep = 1;
      for (let i = 0; i < 20; i++) deep = [deep];
      report([
        raw(SYS.SYS_EXEC, 42),
        raw(SYS.SYS_EXEC, { tool: 'ls' }),
        raw(SYS.SYS_EXEC),
        raw(SYS.SYS_EXEC, 'l\\0s'),
        raw(SYS.SYS_EXEC, 'ls', new Date(0)),
        raw(SYS.SYS_EXEC, 'ls', { n: NaN }),
        raw(SYS.SYS_EXEC, 'ls', [Infinity]),
        raw(SYS.SYS_EXEC, 'ls', deep),
        raw(SYS.SYS_EXEC, 'ls', new Array(300).fill(0)),
        raw(SYS.SYS_EXEC, 'ls', new Map()),
        raw(SYS.SYS_EXEC, 'ls', null, 'extra'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 11 }, () => ({ errno: 'EINVAL' })));
  });

  it('ENAMETOOLONG for a tool name over 256 characters', async () => {
    const { value } = await report("report(raw(SYS.SYS_EXEC, 't'.repeat(257)));");
    expect(value).toEqual({ errno: 'ENAMETOOLONG' });
  });

  it('policy sees the tool name and the tool’s own arguments (args patterns name them)', async () => {
    const kernel = toolKernel({
      policy: policy(
        "{ id: echo-hello, effect: allow, syscalls: [SYS_EXEC], tools: [test.echo], args: [{ arg: greeting, glob: 'hello*' }] }",
        '{ id: no-secrets, effect: deny, syscalls: [SYS_EXEC], args: [{ arg: note, contains: secret }] }',
      ),
      tools: [echoTool()],
    });
    const { value } = await report(`
      report({
        hello: sys.exec('test.echo', { greeting: 'hello world' }).output,
        bye: syscall(SYS.SYS_EXEC, 'test.echo', { greeting: 'bye' }),
        secret: syscall(SYS.SYS_EXEC, 'test.echo', { greeting: 'hello', note: 'a secret' }),
        check: sys.checkPolicy('SYS_EXEC', { tool: 'test.echo', args: { greeting: 'hello there' } }).effect,
        time: syscall(SYS.SYS_EXEC, 'time.now').errno,
      });
    `, { kernel, ...TOOLS });
    expect(value).toEqual({
      hello: { greeting: 'hello world' },
      bye: { errno: 'EACCES', message: 'SYS_EXEC denied by default-deny: no rule matches' },
      secret: { errno: 'EACCES', message: 'SYS_EXEC denied by no-secrets: denied by rule no-secrets' },
      check: 'allow',
      time: 'EACCES',
    });
  });

  it('the process keeps running after EACCES, ENOENT and EINVAL', async () => {
    const { value, result } = await report("errnoOf(() => sys.exec('nope')); errnoOf(() => sys.exec('time.now', { x: 1 })); report('alive');", { kernel: permissiveKernel(), ...TOOLS });
    expect(value).toBe('alive');
    expect(result.exit.status).toBe(0);
  });

  it('records each well-formed exec as a write-access decision for the caller', async () => {
    const denied = await report("errnoOf(() => sys.exec('time.now')); report(0);", { agentId: 'tooler' });
    expect(syscallRecords(denied.result.kernel, 'SYS_EXEC').map((r) => [r.effect, r.rule, r.reason, r.agentId, r.pid, r.access])).toEqual([
      ['deny', 'capability', 'no capability tool:time.now', 'tooler', denied.result.exit.pid, 'write'],
    ]);
    const kernel: Kernel = permissiveKernel();
    const { result } = await report("sys.exec('time.now'); errnoOf(() => sys.exec('nope')); report(0);", { agentId: 'tooler', kernel, ...TOOLS });
    expect(syscallRecords(result.kernel, 'SYS_EXEC').map((r) => [r.effect, r.rule, r.agentId, r.pid])).toEqual([
      ['allow', 'allow-all', 'tooler', result.exit.pid],
      ['allow', 'allow-all', 'tooler', result.exit.pid],
    ]);
  });
});
