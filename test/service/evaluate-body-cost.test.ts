/**
 * What one agent credential's /v1/evaluate bodies cost agentd's event loop.
 * An attacker pass sent bodies within every cap agentd had (240 KB < 256 KiB,
 * 80,000 empty objects < 131,072 containers, 2 deep < 64), each ~21 ms of
 * the loop (JSON.parse, the route's depth walk, the digest), 32 at a time:
 * the rate of 1,000 evaluations a second did not bound that, and /healthz
 * waited 0.9–2.9 s. An evaluation's body now opens at most 4,096 arrays and
 * objects, and a credential's bodies are counted before they are read
 * (evaluate.body_bytes_per_second, 4 MiB): past it, 429 unread.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agentd, startAgentd } from '../service/helpers.ts';

let agentd: Agentd;
let token: string;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': 'version: 1\nname: p\nrules:\n  - { id: reads, effect: allow, syscalls: [file.read] }\n' });
  token = ((await agentd.api('POST', '/v1/principals', { agent: 'bot' })).body as { token: string }).token;
});
afterAll(async () => {
  await agentd.remove();
});

/** The flooder runs in a process of its own, as an attacker's would: 32 requests under way for `ms`. */
const FLOODER = `
import http from 'node:http';
const [url, token, withAction, ms] = [new URL(process.argv[1]), process.argv[2], process.argv[3] === 'action', Number(process.argv[4])];
const args = { a: Array.from({ length: 80000 }, () => ({})) };
const body = JSON.stringify(withAction ? { action: 'file.read', arguments: args } : { arguments: args });
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const post = () => new Promise((resolve) => {
  const r = http.request({ host: url.hostname, port: url.port, path: '/v1/evaluate', method: 'POST', agent, headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => { res.resume(); res.on('end', resolve); });
  r.on('error', resolve);
  r.end(body);
});
const t0 = performance.now();
await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() - t0 < ms) await post(); }));
agent.destroy();
`;

async function flood(kind: 'action' | 'none', ms: number): Promise<number> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', FLOODER, agentd.url, token, kind, String(ms)], { stdio: 'ignore' });
  const done = new Promise((resolve) => child.on('exit', resolve));
  let worst = 0;
  const flooding = { on: true };
  void done.then(() => (flooding.on = false));
  await new Promise((resolve) => setTimeout(resolve, 300));
  while (flooding.on) {
    const started = performance.now();
    await agentd.api('GET', '/healthz');
    worst = Math.max(worst, performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return worst;
}

describe('one agent credential cannot stall agentd with evaluate bodies', () => {
  it('a body of 80,000 empty objects is 400; past 4 MiB of bodies in a second, 429 unread', async () => {
    const big = JSON.stringify({ action: 'file.read', arguments: { a: Array.from({ length: 80_000 }, () => ({})) } });
    const refused = await agentd.api('POST', '/v1/evaluate', undefined, { token, raw: big });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatch(/opens more than 4096 arrays and objects/);
    const padded = JSON.stringify({ action: 'file.read', arguments: { text: 'x'.repeat(200_000) } });
    const answers = await Promise.all(Array.from({ length: 24 }, () => agentd.api('POST', '/v1/evaluate', undefined, { token, raw: padded })));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.body.error).toMatch(/more than 4194304 bytes of request bodies in a second \(evaluate\.body_bytes_per_second\)/);
  });

  it('32 bodies at a time of 80,000 objects each: /healthz is answered within 250 ms', async () => {
    const worst = await flood('action', 2500);
    expect(worst).toBeLessThan(250);
  }, 30_000);
});
