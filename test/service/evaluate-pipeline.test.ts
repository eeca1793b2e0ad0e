/**
 * POST /v1/evaluate asks the kernel's own authorizer (kernel/policy/
 * authorizer.ts), the one a syscall goes through: an outside agent's
 * denials open its circuit breaker, an open breaker refuses before the
 * policy is asked, and an allowed trial closes it again. Capabilities are
 * matched on, not enforced (OutsideIdentity): the resources and tools of an
 * agent outside the kernel are names of its own.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentd, until, type Agentd } from './helpers.ts';

const POLICY = `version: 1
defaults: { breaker: { failures: 3, window_ms: 60000, cooldown_ms: 1000 } }
rules:
  - { id: no-evil-mail, effect: deny, syscalls: [email.send], args: [{ arg: to, glob: "*@evil.example" }] }
  - { id: mail, effect: allow, syscalls: [email.send] }
  - { id: granted-reports, effect: allow, syscalls: [report.read], capabilities: [report:read] }
  - { id: no-x, effect: deny, syscalls: [SYS_GETPID], args: [{ arg: x, glob: "*" }] }
  - { id: processes, effect: allow, syscalls: [SYS_GETPID, SYS_WRITE, SYS_EXIT] }
  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }
`;

interface Answer {
  decision: string;
  rule: string;
  reason: string;
}

describe('/v1/evaluate goes through the kernel\'s authorizer', { timeout: 60_000 }, () => {
  let agentd: Agentd;
  beforeAll(async () => {
    agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
  });
  afterAll(() => agentd?.remove());

  const mail = async (to: string, agent = 'mailer'): Promise<Answer> => (await agentd.api('POST', '/v1/evaluate', { agent, action: 'email.send', tool: 'smtp', access: 'write', arguments: { to } })).body as Answer;

  const read = async (capabilities: string[]) => (await agentd.api('POST', '/v1/evaluate', { agent: { id: 'reporter', capabilities }, action: 'report.read', tool: 'reports' })).body as Answer;

  it('denials open the agent\'s breaker for that tool; while open it refuses before the policy; an allowed trial after the cool-down closes it', async () => {
    for (let i = 0; i < 3; i++) expect(await mail('x@evil.example')).toMatchObject({ decision: 'deny', rule: 'no-evil-mail' });
    // The policy would allow this one: the open breaker answers first.
    expect(await mail('ops@good.example')).toMatchObject({ decision: 'deny', rule: 'kernel.breaker', reason: expect.stringMatching(/^circuit breaker for smtp is open after repeated failures/) });
    // Another agent's breaker is its own.
    expect(await mail('ops@good.example', 'other')).toMatchObject({ decision: 'allow', rule: 'mail' });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await mail('ops@good.example')).toMatchObject({ decision: 'allow', rule: 'mail' });
    // The trial was allowed, which is all the kernel sees of an outside agent: the breaker closed, so the next call is not held as a second trial.
    expect(await mail('ops@good.example')).toMatchObject({ decision: 'allow', rule: 'mail' });
    const records = (await agentd.api('GET', '/v1/decisions?agent=mailer')).body as { type: string; detail?: string; rule?: string }[];
    expect(records.filter((r) => r.type === 'limit').map((r) => r.detail)).toEqual([
      'circuit breaker outside:smtp open: 3 failures within 60000 ms; refused for 1000 ms',
      'circuit breaker outside:smtp closed: the trial call succeeded',
    ]);
  });

  it('capabilities are what rules match on: none needed for a tool name of the agent\'s own, and a rule asking for one sees the operator\'s grant', async () => {
    expect(await read(['report:read'])).toMatchObject({ decision: 'allow', rule: 'granted-reports' });
    expect(await read([])).toMatchObject({ decision: 'deny', rule: 'default-deny' });
  });
  it("an outside agent's breakers are its own: a credential denied three times on SYS_GETPID leaves the breaker of a process of the same agent id closed (a review)", async () => {
    const { token } = (await agentd.api('POST', '/v1/principals', { agent: 'twin' })).body as { token: string };
    for (let i = 0; i < 3; i++) expect((await agentd.api('POST', '/v1/evaluate', { action: 'SYS_GETPID', arguments: { x: 'a' } }, { token })).body).toMatchObject({ decision: 'deny', rule: 'no-x' });
    expect((await agentd.api('POST', '/v1/evaluate', { action: 'SYS_GETPID' }, { token })).body).toMatchObject({ decision: 'deny', rule: 'kernel.breaker' });
    const { pid } = (await agentd.api('POST', '/v1/processes', { source: 'sys.getpid(); sys.exit(7);', filename: 'twin.js', manifest: { id: 'twin' } })).body as { pid: number };
    await until(async () => ((await agentd.api('GET', `/v1/processes/${pid}`)).body as { state: string }).state === 'exited', 'the process exits', 30_000);
    expect(((await agentd.api('GET', `/v1/processes/${pid}`)).body as { status: number }).status).toBe(7);
  });
  it("nor crowd them out: 67 denied questions of made-up actions fill the outside agent's own breakers, not the slots and overflow breaker of its processes (a review)", async () => {
    const { token } = (await agentd.api('POST', '/v1/principals', { agent: 'crowded' })).body as { token: string };
    for (let i = 0; i < 67; i++) expect((await agentd.api('POST', '/v1/evaluate', { action: `made-up-${i}`, tool: `made-up-${i}` }, { token })).body).toMatchObject({ decision: 'deny' });
    const { pid } = (await agentd.api('POST', '/v1/processes', { source: "sys.exec('time.now', {}); sys.exit(7);", filename: 'crowded.js', manifest: { id: 'crowded', capabilities: ['tool:time.now'] } })).body as { pid: number };
    await until(async () => ((await agentd.api('GET', `/v1/processes/${pid}`)).body as { state: string }).state === 'exited', 'the process exits', 30_000);
    expect(((await agentd.api('GET', `/v1/processes/${pid}`)).body as { status: number }).status).toBe(7);
  });
  it("the same holds through the MCP gateway: a credential's 67 failed tools/calls of made-up tools leave its processes' tool calls alone (a review)", async () => {
    const { token } = (await agentd.api('POST', '/v1/principals', { agent: 'mcp-crowded', capabilities: ['tool:*'] })).body as { token: string };
    const client = new Client({ name: 'crowd', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${agentd.url}/v1/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    try {
      for (let i = 0; i < 67; i++) expect((await client.callTool({ name: `made-up-${i}`, arguments: {} })).isError).toBe(true);
    } finally {
      await client.close();
    }
    const { pid } = (await agentd.api('POST', '/v1/processes', { source: "sys.exec('time.now', {}); sys.exit(7);", filename: 'mcp-crowded.js', manifest: { id: 'mcp-crowded', capabilities: ['tool:time.now'] } })).body as { pid: number };
    await until(async () => ((await agentd.api('GET', `/v1/processes/${pid}`)).body as { state: string }).state === 'exited', 'the process exits', 30_000);
    expect(((await agentd.api('GET', `/v1/processes/${pid}`)).body as { status: number }).status).toBe(7);
  });
});
