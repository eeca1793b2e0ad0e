// An OpenAI Agents SDK agent outside the kernel whose function tools ask
// agentd first: governAgentsTool adds a tool input guardrail that is agentd's
// decision. A denied call reaches the model as the guardrail's rejection
// message; email waits for an operator.
//   agentd --config examples/adapters/agentd.yaml &
//   export AGENT_TOKEN=$(agentctl principal create --agent weather-bot --token-only)
//   MODEL_BASE_URL=http://127.0.0.1:8080/v1 node examples/adapters/openai-agents.ts
//   (as the operator: agentctl approvals, agentctl approve ap-1)
import { Agent, OpenAIChatCompletionsModel, run, setTracingDisabled, tool } from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
import { governAgentsTool } from '../../kernel/service/adapters/openai-agents.ts';
import { act, governor, MODEL, PROMPT } from './governor.ts';

setTracingDisabled(true);
const client = new OpenAI({ baseURL: MODEL.baseURL, apiKey: MODEL.apiKey });

const tools = [
  governAgentsTool(governor, tool({ name: 'get_weather', description: 'Current weather in a city', parameters: z.object({ city: z.string() }), execute: act.getWeather })),
  governAgentsTool(governor, tool({ name: 'read_secrets', description: 'Read a secret from the vault', parameters: z.object({ name: z.string() }), execute: act.readSecrets })),
  governAgentsTool(governor, tool({ name: 'send_email', description: 'Send an email', parameters: z.object({ to: z.string(), subject: z.string() }), execute: act.sendEmail })),
];

const agent = new Agent({ name: 'assistant', instructions: 'Use the tools.', tools, model: new OpenAIChatCompletionsModel(client, MODEL.name) });
const result = await run(agent, PROMPT);
console.log(`answer: ${result.finalOutput}`);
