/**
 * kernel/service/adapters/langchain.ts with real LangChain.js (ChatOpenAI
 * with bound tools, the tools invoked with the model's tool calls) against
 * the scripted model server and a real agentd: the allowed tool runs, the
 * denied one answers with a ToolMessage of status error carrying agentd's
 * reason, the email runs only once the operator approves, and agentd's log
 * has every decision and answer. Then examples/adapters/langchain.ts.
 */
import { HumanMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import { tool, type StructuredToolInterface } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { GovernedCallDenied } from '../../kernel/service/adapters/governed-call.ts';
import { governLangChainTool } from '../../kernel/service/adapters/langchain.ts';
import { answer, DENIAL, expectApprovedTurn, expectExampleOutput, FINAL_TEXT, pendingTools, probe, runExample, start, startWorld, toolResults, waitForApprovalRecord, type Probe, type World } from './harness.ts';

vi.setConfig({ testTimeout: 60_000 });

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(() => world.close());

function governedTools(p: Probe): StructuredToolInterface[] {
  return [
    governLangChainTool(p.governor, tool(p.tools.getWeather, { name: 'get_weather', description: 'weather', schema: z.object({ city: z.string() }) })),
    governLangChainTool(p.governor, tool(p.tools.readSecrets, { name: 'read_secrets', description: 'secrets', schema: z.object({ name: z.string() }) })),
    governLangChainTool(p.governor, tool(p.tools.sendEmail, { name: 'send_email', description: 'email', schema: z.object({ to: z.string(), subject: z.string() }) })),
  ];
}

/** agent is a tool-calling loop: the model, then each tool call invoked, until the model answers; it resolves with the messages. */
async function agent(p: Probe): Promise<BaseMessage[]> {
  const tools = governedTools(p);
  const byName = new Map(tools.map((t) => [t.name, t]));
  const model = new ChatOpenAI({ model: 'scripted', apiKey: 'sk-test', configuration: { baseURL: `${world.model.url}/v1` } }).bindTools(tools);
  const messages: BaseMessage[] = [new HumanMessage('go')];
  for (let step = 0; step < 4; step++) {
    const reply = await model.invoke(messages);
    messages.push(reply);
    if (!reply.tool_calls?.length) break;
    for (const call of reply.tool_calls) messages.push(await byName.get(call.name)!.invoke(call));
  }
  return messages;
}

describe('governLangChainTool (LangChain.js)', () => {
  it('runs the allowed tool, answers the denied one with an error ToolMessage, and runs the email only after the operator approves', async () => {
    const { before, requestsBefore, p, running, id } = await start(world, agent);
    expect(p.trail).not.toContain('ran send_email');
    expect(await pendingTools(world)).toEqual(['send_email']);
    await answer(world, id, true, 'fine');

    const messages = await running;
    expect(messages.at(-1)!.text).toBe(FINAL_TEXT);
    expect(p.trail).toEqual(['ran get_weather', 'approved send_email', 'ran send_email']);
    const toolMessages = messages.filter((m): m is ToolMessage => ToolMessage.isInstance(m));
    expect(toolMessages.map((m) => [m.name, m.status])).toEqual([
      ['get_weather', 'success'],
      ['read_secrets', 'error'],
      ['send_email', 'success'],
    ]);
    expect(toolMessages[1]!.artifact).toMatchObject({ allowed: false, decision: { decision: 'deny', rule: 'secrets-stay-put' } });

    const [first, second] = world.model.requests.slice(requestsBefore);
    // bindTools read the governed views as the tools they are.
    expect((first!.body.tools as { function: { name: string } }[]).map((t) => t.function.name)).toEqual(['get_weather', 'read_secrets', 'send_email']);
    const results = toolResults(second!);
    await expectApprovedTurn(world, results, before, id);
  });

  it('does not run the email when the operator denies; the model is told who denied it and why', async () => {
    const { before, requestsBefore, p, running, id } = await start(world, agent);
    await answer(world, id, false, 'not today');
    await running;
    expect(p.trail).toEqual(['ran get_weather', 'denied send_email']);
    expect(toolResults(world.model.requests.slice(requestsBefore)[1]!).call_3).toBe(`agentd: operator denied send_email: not today (approval ${id}, rule email-needs-a-human)`);
    expect(await waitForApprovalRecord(world, before, id)).toBe(`denied tool.call (${id}) by operator: not today`);
  });

  it('a governed tool invoked with plain arguments throws GovernedCallDenied on a denial; the original tool is not governed', async () => {
    const p = probe(world);
    const original = tool(p.tools.readSecrets, { name: 'read_secrets', description: 'secrets', schema: z.object({ name: z.string() }) });
    const governed = governLangChainTool(p.governor, original);
    expect([governed.name, governed.description, governed.schema]).toEqual([original.name, original.description, original.schema]);
    const denied = governed.invoke({ name: 'db' });
    await expect(denied).rejects.toBeInstanceOf(GovernedCallDenied);
    await expect(denied).rejects.toThrow(DENIAL);
    expect(p.trail).toEqual([]);
    await expect(original.invoke({ name: 'db' })).resolves.toBe('the db password is hunter2');
  });

  it('examples/adapters/langchain.ts runs against agentd and waits for agentctl approve', async () => {
    expectExampleOutput(await runExample(world, 'langchain'));
  });
});
