/**
 * An agent written with the Vercel AI SDK, run unmodified in the kernel:
 *   agentctl run examples/ai-sdk-agent.ts --manifest examples/ai-sdk-agent.manifest.yaml \
 *     --policy examples/policies/ai-sdk-agent.yaml --tools examples/ai-sdk-agent.tools.yaml -- "what is in my notes?"
 * Every model request is a fetch, so an `http.fetch` decision in the log:
 * the policy names the model endpoint, the manifest grants MODEL_BASE_URL
 * and MODEL_NAME, and MODEL_API_KEY as a secret (the program only ever holds
 * a placeholder). The tool reads the agent's own notes from its VFS (node:fs
 * on the kernel's syscalls).
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

const model = createOpenAICompatible({
  name: 'model',
  baseURL: process.env.MODEL_BASE_URL ?? 'http://127.0.0.1:8080/v1',
  apiKey: process.env.MODEL_API_KEY,
  includeUsage: true,
})(process.env.MODEL_NAME ?? 'local-model');

if (!existsSync('mem/semantic/notes.txt')) {
  mkdirSync('mem/semantic', { recursive: true });
  writeFileSync('mem/semantic/notes.txt', 'The kernel records every decision before the action runs.\n');
}

const readNotes = tool({
  description: "Read the agent's notes",
  inputSchema: z.object({ topic: z.string() }),
  execute: async ({ topic }) => ({ topic, notes: readFileSync('mem/semantic/notes.txt', 'utf8') }),
});

const question = process.argv[2] ?? 'What is in my notes?';
// The SDK retries a failed request (a denied one too) twice by default; --max-retries=N changes that.
const maxRetries = Number(process.argv.find((a) => a.startsWith('--max-retries='))?.slice(14) ?? 2);
const result = await generateText({ model, tools: { readNotes }, stopWhen: stepCountIs(4), prompt: question, maxRetries });
console.log(`answer: ${result.text}`);
console.log(`steps: ${result.steps.length}, tokens: ${result.totalUsage.totalTokens}`);

if (process.argv.includes('--stream')) {
  const streamed = streamText({ model, prompt: 'Say it again, streaming.', maxRetries });
  for await (const delta of streamed.textStream) process.stdout.write(`[${delta}]`);
  process.stdout.write('\n');
}
