// An OpenAI Agents SDK agent with a function tool, unmodified: the model is an OpenAI-compatible endpoint (MODEL_BASE_URL).
import { Agent, OpenAIChatCompletionsModel, run, setTracingDisabled, tool } from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
setTracingDisabled(true);
const client = new OpenAI({ baseURL: process.env.MODEL_BASE_URL, apiKey: process.env.MODEL_API_KEY ?? 'none', dangerouslyAllowBrowser: true });
const getWeather = tool({ name: 'get_weather', description: 'weather', parameters: z.object({ city: z.string() }), execute: async ({ city }) => `sunny in ${city}` });
const agent = new Agent({ name: 'assistant', instructions: 'help', tools: [getWeather], model: new OpenAIChatCompletionsModel(client, 'scripted') });
const result = await run(agent, 'weather in Paris?');
console.log('final:', result.finalOutput);
