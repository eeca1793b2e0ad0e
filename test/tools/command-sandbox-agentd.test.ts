/**
 * agentd hides its own state from command tools: a real agentd (child
 * process) whose state dir lies inside the tools' directory (the
 * configuration's) runs an agent that asks a sandboxed python tool, through
 * SYS_EXEC, for the token, the decision log and the configuration file,
 * and the webhook's secret file (which signs approvals: found readable by an
 * attacker pass).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentd, until, type Agentd } from '../service/helpers.ts';

const POLICY = `version: 1
rules:
  - { id: stdio, effect: allow, syscalls: [SYS_WRITE, SYS_OPEN, SYS_READ, SYS_CLOSE, SYS_EXIT] }
  - { id: run-py, effect: allow, syscalls: [SYS_EXEC], tools: [py] }
`;
const WEBHOOK_SECRET = 'webhook-hmac-secret-0123456789';
const CONFIG = `policy: policy.yaml
log: { durable: false }
approvals: { mode: webhook, webhook: { url: "http://127.0.0.1:9/hook", secret_file: webhook.secret } }
tools:
  builtin: {}
  commands:
    py:
      command: [python3, -c, 'import json, sys; exec(json.load(sys.stdin)["code"])']
      description: runs python
      input_schema: { type: object, required: [code], properties: { code: { type: string } } }
`;
const AGENT = `
const tryExec = (code) => { try { return sys.exec('py', { code }).output.stdout; } catch (e) { return e.errno + ': ' + e.message; } };
console.log(JSON.stringify([
  tryExec('print(open("state/agentd.token").read())'),
  tryExec('print(open("state/decisions.jsonl").read())'),
  tryExec('print(open("agentd.yaml").read())'),
  tryExec('import os; print(sorted(os.listdir(".")), os.listdir("state"))'),
  tryExec('print(repr(open("webhook.secret").read()))'),
]));
`;

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd(CONFIG, { 'policy.yaml': POLICY, 'webhook.secret': WEBHOOK_SECRET });
});
afterAll(() => agentd.remove());

describe('agentd and sandboxed command tools', () => {
  it("an agent's tool cannot read agentd's token, decision log or configuration, though they lie in the tool's directory", async () => {
    const res = await agentd.api('POST', '/v1/processes', { source: AGENT, filename: 'agent.js', manifest: { id: 'prober', capabilities: ['tool:py'] } });
    expect(res.status).toBe(201);
    const pid = (res.body as { pid: number }).pid;
    let stdout = '';
    await until(async () => {
      stdout = ((await agentd.api('GET', `/v1/processes/${pid}/output`)).body as { stdout: string }).stdout;
      return stdout.includes('\n');
    }, 'the agent to report');
    const [token, log, config, listing, secret] = JSON.parse(stdout.trim()) as string[];
    expect(token).toMatch(/^EIO: tool 'py' exited 1: .*FileNotFoundError/s);
    expect(log).toMatch(/^EIO: tool 'py' exited 1: .*FileNotFoundError/s);
    expect(config).toMatch(/^EIO: tool 'py' exited 1: .*PermissionError/s);
    expect(listing).toBe("['agentd.yaml', 'policy.yaml', 'state', 'webhook.secret'] []\n");
    expect(secret).toMatch(/^EIO: tool 'py' exited 1: .*PermissionError/s);
    expect(stdout).not.toContain(agentd.token);
    expect(stdout).not.toContain(WEBHOOK_SECRET);
  });
});
