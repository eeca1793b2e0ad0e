/**
 * approvals: what an approval by webhook costs an agent, end to end.
 * - approval_roundtrip_webhook_ms: a real agentd (approvals.mode webhook) and
 *   a loopback webhook server in this process that answers each question
 *   202 and then calls back, signed, at once; an agent in agentd makes
 *   tool calls that need approval, one after another, and times each from
 *   inside its isolate: question → webhook → callback → the tool runs →
 *   the call returns. Median of the calls after a warm-up; p90 beside it.
 */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { api, startAgentd, stopAgentd } from './service.ts';
import { type Bench, type BenchOptions, type Figure, median, spread } from './stats.ts';

const SECRET = 'bench-webhook-secret-0123456789';
const CALLS = 200;
const WARMUP = 20;
const POLICY = 'version: 1\nrules:\n  - { id: tools-need-a-human, effect: require_approval, syscalls: [SYS_EXEC] }\n  - { id: the-rest, effect: allow }\n';
const AGENT = `const ms = []; for (let i = 0; i < ${CALLS + WARMUP}; i++) { const t0 = performance.now(); sys.exec('time.now', {}); ms.push(performance.now() - t0); } console.log(JSON.stringify(ms.slice(${WARMUP})));`;

/** The webhook: 202 to each question, then the signed callback at once. */
function webhook(): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.writeHead(202).end();
      const { id, callback, requested_at: requestedAt } = JSON.parse(body) as { id: string; callback: string; requested_at: number };
      const timestamp = String(Date.now());
      const signature = `sha256=${createHmac('sha256', SECRET).update(`callback.${timestamp}.${id}.${requestedAt}.approve.bench`).digest('hex')}`;
      void fetch(callback, { method: 'POST', headers: { 'content-type': 'application/json', 'x-agent-kernel-timestamp': timestamp, 'x-agent-kernel-signature': signature }, body: JSON.stringify({ approved: true, reason: 'bench' }) }).then((r) => r.body?.cancel());
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/approve`, close: () => void server.close() })));
}

async function measure({ log }: BenchOptions): Promise<Figure[]> {
  const hook = await webhook();
  const d = await startAgentd(`policy: policy.yaml\nlog: { durable: false }\napprovals:\n  mode: webhook\n  webhook: { url: "${hook.url}", secret_file: secret.txt }\n`, { 'policy.yaml': POLICY, 'secret.txt': SECRET });
  try {
    const { pid } = (await api(d, 'POST', '/v1/processes', { source: AGENT, filename: 'approver-bench.js', manifest: { id: 'bench', capabilities: ['tool:time.now'] } })) as { pid: number };
    let stdout = '';
    for (let tries = 0; tries < 1200 && stdout === ''; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const out = (await api(d, 'GET', `/v1/processes/${pid}/output`)) as { stdout: string; status?: number; stderr: string };
      if (out.status !== undefined && out.stdout === '') throw new Error(`the bench agent exited ${out.status}: ${out.stderr}`);
      stdout = out.stdout;
    }
    const ms = JSON.parse(stdout) as number[];
    const sorted = ms.toSorted((a, b) => a - b);
    const p90 = sorted[Math.floor(sorted.length * 0.9)]!;
    log(`approvals: ${ms.length} webhook round trips, median ${median(ms).toFixed(2)} ms, p90 ${p90.toFixed(2)} ms`);
    return [
      { key: 'approval_roundtrip_webhook_ms', value: median(ms), unit: 'ms', target: { op: '<=', bound: 20 }, note: `question → loopback webhook (202) → signed callback → the tool runs → the call returns, timed in the agent; ${ms.length} calls after ${WARMUP} warm-up, ${spread(ms, 2)} ms, p90 ${p90.toFixed(2)} ms` },
      { key: 'approval_roundtrip_webhook_p90_ms', value: p90, unit: 'ms', note: 'the 90th percentile of the same calls' },
    ];
  } finally {
    await stopAgentd(d);
    hook.close();
  }
}

export const approvalsBench: Bench = {
  name: 'approvals',
  keys: ['approval_roundtrip_webhook_ms', 'approval_roundtrip_webhook_p90_ms'],
  run: measure,
};
