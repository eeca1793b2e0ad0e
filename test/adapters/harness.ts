/**
 * The world the adapter tests share: a real agentd under
 * examples/adapters/policy.yaml (get_weather allowed, read_secrets denied,
 * send_email waits for an operator), an agent credential made by `agentctl
 * principal create`, and the scripted OpenAI-compatible model server whose
 * first turn calls all three tools. A Probe is a Governor on that agentd
 * that tells the test, as events, when agentd asks for an operator and what
 * ran in which order.
 */
import { expect } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { createGovernor, type Governor } from '../../kernel/service/adapters/governed-call.ts';
import { AgentdClient } from '../../kernel/service/client.ts';
import { startModelServer, type ModelRequest, type ModelServer, type Turn } from '../frameworks/model-server.ts';
import { agentctl, node, REPO, startAgentd, until, type Agentd, type CtlResult } from '../service/helpers.ts';

export const AGENT = 'weather-bot';
export const FINAL_TEXT = 'It is sunny in Paris; the secret stayed put; the email is sent.';

/** The first turn calls the three tools (ids call_1, call_2, call_3); the second answers. */
export const TURNS: readonly Turn[] = [
  {
    toolCalls: [
      { name: 'get_weather', arguments: { city: 'Paris' } },
      { name: 'read_secrets', arguments: { name: 'db' } },
      { name: 'send_email', arguments: { to: 'ops@example.com', subject: 'weather' } },
    ],
  },
  { text: FINAL_TEXT },
];

export const DENIAL = 'agentd denied read_secrets: secrets never leave the vault (rule secrets-stay-put, record #';

export interface World {
  readonly agentd: Agentd;
  readonly model: ModelServer;
  /** The agent credential's token (agent weather-bot). */
  readonly agentToken: string;
  close(): Promise<void>;
}

/** startWorld starts agentd with the examples' policy, makes the agent credential, and starts the model server. */
export async function startWorld(): Promise<World> {
  const agentd = await startAgentd(`policy: ${REPO}examples/adapters/policy.yaml\napprovals: { mode: operator }\n`);
  const created = await agentctl(agentd, 'principal', 'create', '--agent', AGENT, '--token-only');
  if (created.status !== 0) throw new Error(`principal create failed: ${created.stderr}`);
  const model = await startModelServer();
  return {
    agentd,
    model,
    agentToken: created.stdout.trim(),
    async close() {
      await model.close();
      await agentd.remove();
    },
  };
}

/** The tools every test offers, as plain functions that note when they ran. */
export interface Tools {
  getWeather(input: { city: string }): string;
  readSecrets(input: { name: string }): string;
  sendEmail(input: { to: string; subject: string }): string;
}

/**
 * Probe: a Governor on the world's agentd with the agent credential, the
 * tools, and `trail` — tool runs and the operator's answers, in order.
 * `asked` settles with the approval id once agentd asks for an operator.
 */
export interface Probe {
  readonly governor: Governor;
  readonly tools: Tools;
  readonly trail: string[];
  readonly asked: Promise<string>;
}

export function probe(world: World): Probe {
  const trail: string[] = [];
  let onAsked!: (id: string) => void;
  const asked = new Promise<string>((resolve) => (onAsked = resolve));
  const governor = createGovernor(new AgentdClient(world.agentd.url, world.agentToken), {
    approvalPollMs: 5_000,
    onEvent(event) {
      if (event.kind === 'decided' && event.decision.approval_id !== undefined) onAsked(event.decision.approval_id);
      if (event.kind === 'answered') trail.push(`${event.approval.status} ${event.call.tool}`);
    },
  });
  const ran = (tool: string, result: string) => {
    trail.push(`ran ${tool}`);
    return result;
  };
  return {
    governor,
    trail,
    asked,
    tools: {
      getWeather: ({ city }) => ran('get_weather', `sunny in ${city}`),
      readSecrets: ({ name }) => ran('read_secrets', `the ${name} password is hunter2`),
      sendEmail: ({ to }) => ran('send_email', `sent to ${to}`),
    },
  };
}

/** whenAsked waits for agentd to ask for an operator, failing at once if the run ends (or fails) first. */
export async function whenAsked(p: Probe, run: Promise<unknown>): Promise<string> {
  return Promise.race([p.asked, run.then((r) => Promise.reject(new Error(`the run ended before agentd asked for an operator: ${String(r)}`)))]);
}

/** pendingTools lists the tools of the approvals waiting in agentd. */
export async function pendingTools(world: World): Promise<(string | undefined)[]> {
  const res = await world.agentd.api('GET', '/v1/approvals');
  return (res.body as { tool?: string }[]).map((a) => a.tool);
}

/** answer approves or denies `id` through agentd's API, as the operator. */
export async function answer(world: World, id: string, approve: boolean, reason: string): Promise<void> {
  const res = await world.agentd.api('POST', `/v1/approvals/${id}/${approve ? 'approve' : 'deny'}`, { reason });
  expect(res.status).toBe(200);
}

/** toolResults maps the tool results a model request carried, by call id, to their text. */
export function toolResults(request: ModelRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (request.body.messages ?? []) as { role?: string; tool_call_id?: string; content?: unknown }[]) {
    if (m.role === 'tool' && m.tool_call_id !== undefined) out[m.tool_call_id] = typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
  }
  return out;
}

/** The decision records of the tool calls after `afterSeq`, as `decision rule`, and the approval records' details. */
export async function decisionsAfter(world: World, afterSeq: number): Promise<{ calls: string[]; approvals: string[] }> {
  const records = (await world.agentd.api('GET', `/v1/decisions?agent=${AGENT}&after=${afterSeq}`)).body as ChainRecord[];
  return {
    calls: records.filter((r) => r.type === 'syscall' && r.syscall === 'tool.call').map((r) => `${r.decision} ${r.rule}`),
    approvals: records.filter((r) => r.type === 'approval').map((r) => r.detail ?? ''),
  };
}

/** lastSeq is the newest record's seq (0 for an empty log). */
export async function lastSeq(world: World): Promise<number> {
  const records = (await world.agentd.api('GET', '/v1/decisions?limit=1')).body as ChainRecord[];
  return records.at(-1)?.seq ?? 0;
}

/** waitForApprovalRecord waits until agentd's log holds the answer to `id`. */
export async function waitForApprovalRecord(world: World, afterSeq: number, id: string): Promise<string> {
  let detail = '';
  await until(async () => {
    detail = (await decisionsAfter(world, afterSeq)).approvals.find((d) => d.includes(`(${id})`)) ?? '';
    return detail !== '';
  }, `agentd to record the answer to ${id}`);
  return detail;
}

/** runExample runs examples/adapters/NAME.ts against the world, approves its email with agentctl, and returns what it printed. */
export async function runExample(world: World, name: string): Promise<CtlResult & { id: string }> {
  world.model.script(TURNS);
  const run = node(`examples/adapters/${name}.ts`, world.agentd, [], { AGENT_TOKEN: world.agentToken, MODEL_BASE_URL: `${world.model.url}/v1`, MODEL_API_KEY: 'sk-test' });
  const exited = run.done.then((r) => `exited ${r.status}: ${r.stderr}`);
  let id = '';
  await Promise.race([
    until(() => {
      id = /agentctl approve (ap-\d+)/.exec(run.stdout())?.[1] ?? '';
      return id !== '';
    }, `examples/adapters/${name}.ts to ask for an operator`, 30_000),
    exited.then((why) => Promise.reject(new Error(`examples/adapters/${name}.ts ended before asking: ${why}`))),
  ]);
  expect(run.stdout()).not.toContain('send_email ran');
  expect(await agentctl(world.agentd, 'approve', id, '--reason', 'looks fine')).toMatchObject({ status: 0 });
  return { ...(await run.done), id };
}

/** expectExampleOutput checks what an example printed: the three decisions, the approval before the email, and no secret. */
export function expectExampleOutput(result: CtlResult & { id: string }): void {
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  const out = result.stdout.replace(/record #\d+/g, 'record #N');
  for (const line of [
    'get_weather: allow (rule weather-is-public, record #N)',
    '  … get_weather ran: sunny in Paris',
    'read_secrets: deny (rule secrets-stay-put, record #N)',
    'send_email: require_approval (rule email-needs-a-human, record #N)',
    `  waiting for an operator: agentctl approve ${result.id}`,
    '  approved by operator: looks fine',
    '  … send_email ran: sent to ops@example.com',
    `answer: ${FINAL_TEXT}`,
  ]) {
    expect(out).toContain(`${line}\n`);
  }
  expect(out).not.toContain('read_secrets ran');
  expect(out).not.toContain('hunter2');
  expect(out.indexOf('  approved by operator')).toBeLessThan(out.indexOf('send_email ran'));
}

/** Started is a scripted turn under way: where the log and the model's requests stood before it, its probe, the run, and the approval it waits on. */
export interface Started<T> {
  readonly before: number;
  readonly requestsBefore: number;
  readonly p: Probe;
  readonly running: Promise<T>;
  readonly id: string;
}

/** start scripts the model's turns, starts `agent` and waits until it asks the operator about the email. */
export async function start<T>(world: World, agent: (p: Probe) => Promise<T>): Promise<Started<T>> {
  const before = await lastSeq(world);
  const requestsBefore = world.model.requests.length;
  world.model.script(TURNS);
  const p = probe(world);
  const running = agent(p);
  const id = await whenAsked(p, running);
  return { before, requestsBefore, p, running, id };
}

/** expectApprovedTurn checks what every framework's approved turn leaves: the model saw the weather, the denial and the sent email; agentd decided the three calls, recorded the operator's grant, and allowed the email once when the adapter redeemed the approval. */
export async function expectApprovedTurn(world: World, results: Record<string, string>, before: number, id: string): Promise<void> {
  expect(results.call_1).toContain('sunny in Paris');
  expect(results.call_2).toContain(DENIAL);
  expect(results.call_3).toContain('sent to ops@example.com');
  expect((await decisionsAfter(world, before)).calls.toSorted()).toEqual(['allow kernel.approval-grant', 'allow weather-is-public', 'deny secrets-stay-put', 'require_approval email-needs-a-human']);
  expect(await waitForApprovalRecord(world, before, id)).toBe(`granted tool.call (${id}) by operator: fine`);
}
