// An agent that runs OUTSIDE the kernel (a plain Node program) and asks
// agentd before every action: POST /v1/evaluate through the typed client.
// allow → act; deny → skip; require_approval → wait for an operator
// (`agentctl approvals`, `agentctl approve ID`).
//
// It runs with an agent credential, never the operator's token: agentd then
// decides every request as agent report-bot with the labels the operator
// granted, and the agent can neither answer its own approvals nor act as
// another agent.
//   agentd --config agentd.yaml &            (policy: examples/policies/external.yaml)
//   export AGENT_TOKEN=$(agentctl principal create --agent report-bot --label team=finance --token-only)
//   node examples/external-agent.ts
import { AgentdClient } from '../kernel/service/client.ts';

const client = AgentdClient.fromEnvironment({ token: process.env.AGENT_TOKEN });
const me = await client.whoami();
if (me.principal !== 'agent') {
  console.error('examples/external-agent.ts acts as an agent, not as the operator: give it an agent credential, e.g.');
  console.error('  export AGENT_TOKEN=$(agentctl principal create --agent report-bot --label team=finance --token-only)');
  process.exit(2);
}
const labels = Object.entries(me.labels).map(([k, v]) => `${k}=${v}`).join(',') || 'none';
console.log(`acting as agent ${me.agent} (credential ${me.name}, labels ${labels})`);

async function ask(action: string, details: { resource?: string; tool?: string; arguments?: Record<string, unknown> }): Promise<boolean> {
  // No `agent` in the request: the credential says who is asking.
  const answer = await client.evaluate({ action, ...details });
  console.log(`${action} ${details.resource ?? details.tool ?? ''}: ${answer.decision} (rule ${answer.rule}, record #${answer.seq})`);
  if (answer.decision === 'allow') return true;
  if (answer.decision === 'deny') return false;
  console.log(`  waiting for an operator: agentctl approve ${answer.approval_id}`);
  for (;;) {
    const status = await client.approval(answer.approval_id!, 30_000);
    if (status.status !== 'pending') {
      console.log(`  ${status.status} by ${status.answer?.approver}: ${status.answer?.reason}`);
      return status.status === 'approved';
    }
  }
}

if (await ask('file.read', { resource: '/data/ledger.csv' })) console.log('  … read the ledger');
if (await ask('http.get', { tool: 'http', arguments: { url: 'https://api.example.com/rates' } })) console.log('  … fetched the rates');
if (await ask('email.send', { tool: 'email', arguments: { to: 'cfo@example.com' } })) console.log('  … sent the report');
if (await ask('file.delete', { resource: '/data/ledger.csv' })) console.log('  … deleted the ledger');
