/**
 * An agent under a token budget, for the tests of token_budget on model endpoints reached through http.fetch: a
 * kernel whose http.fetch meters `${url}/v1/` as a model endpoint, a policy that allows stdio and http.fetch under a
 * token_budget of 1,000, and an agent program that runs there to its end (status 0).
 */
import { expect } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { httpFetchTool, type HttpFetchOptions } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { capture } from '../helpers.ts';

const BUDGET_POLICY = parsePolicy(
  'version: 1\nrules:\n  - { id: stdio, effect: allow, syscalls: [SYS_WRITE, SYS_OPEN, SYS_READ, SYS_CLOSE, SYS_EXIT] }\n  - { id: model, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch], limits: { token_budget: 1000 } }\n',
  'budget.yaml',
);

/** underBudget runs `source` as an agent against the model endpoint `${url}/v1/`: what it printed, and the tokens counted to it. */
export async function underBudget(url: string, source: string, options: Partial<HttpFetchOptions> = {}): Promise<{ text: string; tokens: number }> {
  const registry = new ToolRegistry();
  registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], modelEndpoints: [`${url}/v1/`], timeoutMs: 10_000, ...options }));
  const kernel = new Kernel({ policy: BUDGET_POLICY, tools: registry, stdout: () => {}, stderr: () => {} });
  const out = capture();
  try {
    const proc = kernel.spawn(programFromSource('agent.js', source), { manifest: { capabilities: ['tool:*'] }, stdout: out.sink, stderr: out.sink });
    expect((await kernel.wait(proc.pid)).status).toBe(0);
    return { text: out.text, tokens: kernel.engine.counters.tokensUsed(proc.agentId) };
  } finally {
    await kernel.shutdown();
  }
}

/** thrice is an agent program that runs `call` (a statement using `i`) three times, printing `got answer i` or `refused i ERRNO`. */
export const thrice = (call: string) => `
  for (let i = 0; i < 3; i++) {
    try {
      ${call}
      console.log('got answer', i);
    } catch (e) { console.log('refused', i, e.errno ?? (e.cause && e.cause.errno)); }
  }`;
