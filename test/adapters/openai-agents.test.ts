/**
 * kernel/service/adapters/openai-agents.ts with the real OpenAI Agents SDK
 * (run() over OpenAIChatCompletionsModel) against the scripted model server
 * and a real agentd: the guardrail lets the allowed tool run, rejects the
 * denied one with agentd's reason as the call's output, holds the email until
 * the operator approves (or denies), and agentd's log has every decision and
 * answer. Then examples/adapters/openai-agents.ts.
 */
import { Agent, OpenAIChatCompletionsModel, run, setTracingDisabled, tool } from '@openai/agents';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { AGENTD_GUARDRAIL, governAgentsTool } from '../../kernel/service/adapters/openai-agents.ts';
import { answer, expectApprovedTurn, expectExampleOutput, FINAL_TEXT, pendingTools, runExample, start, startWorld, toolResults, waitForApprovalRecord, type Probe, type World } from './harness.ts';

vi.setConfig({ testTimeout: 60_000 });
setTracingDisabled(true);

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(() => world.close());

/** agent runs an Agent with the probe's tools governed. */
function agent(p: Probe) {
  const client = new OpenAI({ baseURL: `${world.model.url}/v1`, apiKey: 'sk-test' });
  const tools = [
    governAgentsTool(p.governor, tool({ name: 'get_weather', description: 'weather', parameters: z.object({ city: z.string() }), execute: p.tools.getWeather })),
    governAgentsTool(p.governor, tool({ name: 'read_secrets', description: 'secrets', parameters: z.object({ name: z.string() }), execute: p.tools.readSecrets })),
    governAgentsTool(p.governor, tool({ name: 'send_email', description: 'email', parameters: z.object({ to: z.string(), subject: z.string() }), execute: p.tools.sendEmail })),
  ];
  return run(new Agent({ name: 'assistant', instructions: 'help', tools, model: new OpenAIChatCompletionsModel(client, 'scripted') }), 'go');
}

describe('governAgentsTool (OpenAI Agents SDK)', () => {
  it('runs the allowed tool, rejects the denied one through the guardrail, and runs the email only after the operator approves', async () => {
    const { before, requestsBefore, p, running, id } = await start(world, agent);
    expect(p.trail).not.toContain('ran send_email');
    expect(await pendingTools(world)).toEqual(['send_email']);
    await answer(world, id, true, 'fine');

    const result = await running;
    expect(result.finalOutput).toBe(FINAL_TEXT);
    expect(p.trail).toContain('ran get_weather');
    expect(p.trail).not.toContain('ran read_secrets');
    expect(p.trail.indexOf('ran send_email')).toBeGreaterThan(p.trail.indexOf('approved send_email'));
    expect(p.trail.indexOf('approved send_email')).toBeGreaterThanOrEqual(0);
    const behaviors = result.toolInputGuardrailResults.filter((r) => r.guardrail.name === AGENTD_GUARDRAIL).map((r) => r.output.behavior.type);
    expect(behaviors.toSorted()).toEqual(['allow', 'allow', 'rejectContent']);

    const results = toolResults(world.model.requests.slice(requestsBefore)[1]!);
    await expectApprovedTurn(world, results, before, id);
  });

  it('does not run the email when the operator denies; the model is told who denied it and why', async () => {
    const { before, requestsBefore, p, running, id } = await start(world, agent);
    await answer(world, id, false, 'not today');
    await running;
    expect(p.trail).not.toContain('ran send_email');
    expect(p.trail).toContain('denied send_email');
    expect(toolResults(world.model.requests.slice(requestsBefore)[1]!).call_3).toBe(`agentd: operator denied send_email: not today (approval ${id}, rule email-needs-a-human)`);
    expect(await waitForApprovalRecord(world, before, id)).toBe(`denied tool.call (${id}) by operator: not today`);
  });

  it('examples/adapters/openai-agents.ts runs against agentd and waits for agentctl approve', async () => {
    expectExampleOutput(await runExample(world, 'openai-agents'));
  });
});
