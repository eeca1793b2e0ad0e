// A LangChain.js tool-calling agent loop, unmodified: ChatOpenAI against an OpenAI-compatible endpoint (MODEL_BASE_URL).
import { ChatOpenAI } from '@langchain/openai';
import { tool } from '@langchain/core/tools';
import { HumanMessage, type BaseMessage } from '@langchain/core/messages';
import { z } from 'zod';
const getWeather = tool(async ({ city }) => `sunny in ${city}`, { name: 'get_weather', description: 'weather', schema: z.object({ city: z.string() }) });
const model = new ChatOpenAI({ model: 'scripted', apiKey: process.env.MODEL_API_KEY ?? 'none', configuration: { baseURL: process.env.MODEL_BASE_URL } }).bindTools([getWeather]);
const messages: BaseMessage[] = [new HumanMessage('weather in Paris?')];
const first = await model.invoke(messages);
messages.push(first);
// A tool invoked with the model's tool call answers with the ToolMessage that goes back to the model.
for (const call of first.tool_calls ?? []) messages.push(await getWeather.invoke(call));
const second = await model.invoke(messages);
console.log('final:', second.content);
