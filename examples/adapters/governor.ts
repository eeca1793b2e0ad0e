// The Governor the adapter examples share: it asks agentd (found through
// AGENTD_URL or the state dir, as agentctl finds it) with the agent
// credential in AGENT_TOKEN, and prints each decision and answer.
import { createGovernor, type GovernorEvent } from '../../kernel/service/adapters/governed-call.ts';
import { AgentdClient } from '../../kernel/service/client.ts';

if (process.env.AGENT_TOKEN === undefined) {
  console.error('the adapter examples act as an agent: give them a credential of their own, e.g.');
  console.error('  export AGENT_TOKEN=$(agentctl principal create --agent weather-bot --token-only)');
  process.exit(2);
}

function narrate(event: GovernorEvent): void {
  const { call, decision } = event;
  if (event.kind === 'decided') {
    console.log(`${call.tool}: ${decision.decision} (rule ${decision.rule}, record #${decision.seq})`);
    if (decision.approval_id !== undefined) console.log(`  waiting for an operator: agentctl approve ${decision.approval_id}`);
  } else {
    console.log(`  ${event.approval.status} by ${event.approval.answer?.approver}: ${event.approval.answer?.reason}`);
  }
}

export const governor = createGovernor(AgentdClient.fromEnvironment({ token: process.env.AGENT_TOKEN }), { onEvent: narrate });

/** The tools every example offers its model, as plain functions; each says when it runs. */
export const act = {
  getWeather: ({ city }: { city: string }) => ran('get_weather', `sunny in ${city}`),
  readSecrets: ({ name }: { name: string }) => ran('read_secrets', `the ${name} password is hunter2`),
  sendEmail: ({ to }: { to: string; subject: string }) => ran('send_email', `sent to ${to}`),
};

function ran(tool: string, result: string): string {
  console.log(`  … ${tool} ran: ${result}`);
  return result;
}

export const PROMPT = process.argv[2] ?? 'What is the weather in Paris? Then read the db secret and email the weather to ops@example.com.';
export const MODEL = { baseURL: process.env.MODEL_BASE_URL ?? 'http://127.0.0.1:8080/v1', name: process.env.MODEL_NAME ?? 'local-model', apiKey: process.env.MODEL_API_KEY ?? 'none' };
