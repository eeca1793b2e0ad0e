// A Vercel AI SDK agent outside the kernel whose tools ask agentd first:
// governAiSdkTools wraps the tools and gives generateText a toolApproval that
// is agentd's decision. A denied call reaches the model as the SDK's
// execution-denied result; email waits for an operator.
//   agentd --config examples/adapters/agentd.yaml &
//   export AGENT_TOKEN=$(agentctl principal create --agent weather-bot --token-only)
//   MODEL_BASE_URL=http://127.0.0.1:8080/v1 node examples/adapters/ai-sdk.ts
//   (as the operator: agentctl approvals, agentctl approve ap-1)
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, stepCountIs, tool } from 'ai';
import { z } from 'zod';
import { governAiSdkTools } from '../../kernel/service/adapters/ai-sdk.ts';
import { act, governor, MODEL, PROMPT } from './governor.ts';

const model = createOpenAICompatible({ name: 'model', baseURL: MODEL.baseURL, apiKey: MODEL.apiKey })(MODEL.name);

const { tools, toolApproval } = governAiSdkTools(governor, {
  get_weather: tool({ description: 'Current weather in a city', inputSchema: z.object({ city: z.string() }), execute: async (input) => act.getWeather(input) }),
  read_secrets: tool({ description: 'Read a secret from the vault', inputSchema: z.object({ name: z.string() }), execute: async (input) => act.readSecrets(input) }),
  send_email: tool({ description: 'Send an email', inputSchema: z.object({ to: z.string(), subject: z.string() }), execute: async (input) => act.sendEmail(input) }),
});

const result = await generateText({ model, tools, toolApproval, stopWhen: stepCountIs(4), prompt: PROMPT, maxRetries: 0 });
console.log(`answer: ${result.text}`);
