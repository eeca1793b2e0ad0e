// An agent that runs OUTSIDE the kernel (a plain Node program) and asks
// agentd before every action: POST /v1/evaluate through the typed client.
// allow → act; deny → skip; require_approval → wait for an operator
// (`agentctl approvals`, `agentctl approve ID`).
//   agentd --config agentd.yaml &            (policy: examples/policies/external.yaml)
//   node examples/external-agent.ts
import { AgentdClient } from '../kernel/service/client.ts';

const client = AgentdClient.fromEnvironment();
const agent = { id: 'report-bot', labels: { team: 'finance' } };

async function ask(action: string, details: { resource?: string; tool?: string; arguments?: Record<string, unknown> }): Promise<boolean> {
  const answer = await client.evaluate({ agent, action, ...details });
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
