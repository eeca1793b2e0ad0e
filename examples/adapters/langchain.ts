// A LangChain.js agent loop outside the kernel whose tools ask agentd first:
// governLangChainTool gives each tool an invoke that is agentd's decision. A
// denied call answers the model with a ToolMessage of status "error"; email
// waits for an operator.
//   agentd --config examples/adapters/agentd.yaml &
//   export AGENT_TOKEN=$(agentctl principal create --agent weather-bot --token-only)
//   MODEL_BASE_URL=http://127.0.0.1:8080/v1 node examples/adapters/langchain.ts
//   (as the operator: agentctl approvals, agentctl approve ap-1)
import { HumanMessage, type BaseMessage } from '@langchain/core/messages';
import { tool, type StructuredToolInterface } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';
import { governLangChainTool } from '../../kernel/service/adapters/langchain.ts';
import { act, governor, MODEL, PROMPT } from './governor.ts';

const tools = [
  governLangChainTool(governor, tool(act.getWeather, { name: 'get_weather', description: 'Current weather in a city', schema: z.object({ city: z.string() }) })),
  governLangChainTool(governor, tool(act.readSecrets, { name: 'read_secrets', description: 'Read a secret from the vault', schema: z.object({ name: z.string() }) })),
  governLangChainTool(governor, tool(act.sendEmail, { name: 'send_email', description: 'Send an email', schema: z.object({ to: z.string(), subject: z.string() }) })),
];
const byName = new Map<string, StructuredToolInterface>(tools.map((t) => [t.name, t]));
const model = new ChatOpenAI({ model: MODEL.name, apiKey: MODEL.apiKey, configuration: { baseURL: MODEL.baseURL } }).bindTools(tools);

const messages: BaseMessage[] = [new HumanMessage(PROMPT)];
for (let step = 0; step < 4; step++) {
  const reply = await model.invoke(messages);
  messages.push(reply);
  if (!reply.tool_calls?.length) {
    console.log(`answer: ${reply.text}`);
    break;
  }
  // Each tool invoked with the model's tool call answers with the ToolMessage that goes back to the model.
  for (const call of reply.tool_calls) messages.push(await byName.get(call.name)!.invoke(call));
}
