/**
 * kernel/service/adapters/ai-sdk.ts with the real Vercel AI SDK (generateText
 * over @ai-sdk/openai-compatible) against the scripted model server and a
 * real agentd: the allowed tool runs, the denied one does not and the model
 * gets the SDK's execution-denied result with agentd's reason, the email
 * runs only once the operator approves (and not at all when they deny), and
 * agentd's log has every decision and answer. Then examples/adapters/ai-sdk.ts.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, stepCountIs, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { governAiSdkTools } from '../../kernel/service/adapters/ai-sdk.ts';
import { GovernedCallDenied } from '../../kernel/service/adapters/governed-call.ts';
import { agentctl } from '../service/helpers.ts';
import { answer, DENIAL, expectApprovedTurn, expectExampleOutput, FINAL_TEXT, pendingTools, probe, runExample, start, startWorld, toolResults, waitForApprovalRecord, type Probe, type World } from './harness.ts';

vi.setConfig({ testTimeout: 60_000 });

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(() => world.close());

/** agent runs generateText with the probe's tools governed; it resolves with the answer's text. */
function agent(p: Probe) {
  const model = createOpenAICompatible({ name: 'scripted', baseURL: `${world.model.url}/v1`, apiKey: 'sk-test' })('scripted');
  const { tools, toolApproval } = governAiSdkTools(p.governor, {
    get_weather: tool({ description: 'weather', inputSchema: z.object({ city: z.string() }), execute: async (input) => p.tools.getWeather(input) }),
    read_secrets: tool({ description: 'secrets', inputSchema: z.object({ name: z.string() }), execute: async (input) => p.tools.readSecrets(input) }),
    send_email: tool({ description: 'email', inputSchema: z.object({ to: z.string(), subject: z.string() }), execute: async (input) => p.tools.sendEmail(input) }),
  });
  return { tools, run: generateText({ model, tools, toolApproval, stopWhen: stepCountIs(4), prompt: 'go', maxRetries: 0 }) };
}

describe('governAiSdkTools (Vercel AI SDK)', () => {
  it('runs the allowed tool, denies one in the SDK’s terms, and runs the email only after the operator approves', async () => {
    const { before, requestsBefore, p, running: run, id } = await start(world, (q) => agent(q).run);
    expect(p.trail).not.toContain('ran send_email');
    expect(await pendingTools(world)).toEqual(['send_email']);
    expect(await agentctl(world.agentd, 'approve', id, '--reason', 'fine')).toMatchObject({ status: 0 });

    const result = await run;
    expect(result.text).toBe(FINAL_TEXT);
    expect(p.trail).toEqual(['approved send_email', 'ran get_weather', 'ran send_email']);
    const denied = result.steps[0]!.content.find((c) => c.type === 'tool-approval-response' && !c.approved);
    expect(denied).toMatchObject({ toolCall: { toolName: 'read_secrets' } });
    expect(result.steps[0]!.content.filter((c) => c.type === 'tool-result').map((c) => c.toolName)).toEqual(['get_weather', 'send_email']);

    const second = world.model.requests.slice(requestsBefore)[1]!;
    const results = toolResults(second);
    await expectApprovedTurn(world, results, before, id);
  });

  it('does not run the email when the operator denies; the model is told who denied it and why', async () => {
    const { before, requestsBefore, p, running: run, id } = await start(world, (q) => agent(q).run);
    await answer(world, id, false, 'not today');
    await run;
    expect(p.trail).toEqual(['denied send_email', 'ran get_weather']);
    expect(toolResults(world.model.requests.slice(requestsBefore)[1]!).call_3).toBe(`agentd: operator denied send_email: not today (approval ${id}, rule email-needs-a-human)`);
    expect(await waitForApprovalRecord(world, before, id)).toBe(`denied tool.call (${id}) by operator: not today`);
  });

  it("a tool's own needsApproval still holds after agentd allows: the SDK asks the application", async () => {
    world.model.script([{ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] }]);
    const p = probe(world);
    const model = createOpenAICompatible({ name: 'scripted', baseURL: `${world.model.url}/v1`, apiKey: 'sk-test' })('scripted');
    const { tools, toolApproval } = governAiSdkTools(p.governor, {
      get_weather: tool({ description: 'weather', inputSchema: z.object({ city: z.string() }), needsApproval: true, execute: async (input) => p.tools.getWeather(input) }),
    });
    const result = await generateText({ model, tools, toolApproval, stopWhen: stepCountIs(4), prompt: 'go', maxRetries: 0 });
    const request = result.steps[0]!.content.find((c) => c.type === 'tool-approval-request');
    expect(request).toMatchObject({ toolCall: { toolName: 'get_weather' }, reason: expect.stringContaining('agentd allowed get_weather (rule weather-is-public)') });
    expect(request).not.toHaveProperty('isAutomatic', true);
    expect(p.trail).toEqual([]);
  });

  it('a governed tool called outside generateText asks agentd itself and throws GovernedCallDenied', async () => {
    const p = probe(world);
    const { tools } = agent(p);
    const options = { toolCallId: 'direct-1', messages: [], context: {} };
    await expect(tools.get_weather.execute({ city: 'Oslo' }, options)).resolves.toBe('sunny in Oslo');
    const denied = tools.read_secrets.execute({ name: 'db' }, options);
    await expect(denied).rejects.toBeInstanceOf(GovernedCallDenied);
    await expect(denied).rejects.toThrow(DENIAL);
    expect(p.trail).toEqual(['ran get_weather']);
  });

  it('examples/adapters/ai-sdk.ts runs against agentd and waits for agentctl approve', async () => {
    expectExampleOutput(await runExample(world, 'ai-sdk'));
  });
});
