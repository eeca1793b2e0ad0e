/**
 * agentd's HTTP API on a real daemon: POST /v1/evaluate with good and hostile
 * bodies (4xx with a message, never a crash), hot reload of the policy, the
 * SSE follow stream (each decision pushed, in order; its latency is for
 * bench/), /openapi.json, /metrics, /healthz and /readyz.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDLE_AGENT, spawnAgent, startAgentd, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: api-test
rules:
  - id: reads-ok
    effect: allow
    syscalls: [file.read]
    paths: ["/data/**"]
  - id: no-deletes
    effect: deny
    syscalls: [file.delete]
  - id: email-needs-a-human
    effect: require_approval
    syscalls: [email.send]
  - id: own-fds
    effect: allow
    syscalls: [SYS_WRITE, SYS_READ, SYS_CLOSE, SYS_GETPID, SYS_EXIT]
  - id: own-tree
    effect: allow
    syscalls: [SYS_OPEN]
    paths: ["/agent/\${agent}/**"]
`;

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
});
afterAll(() => agentd.remove());

const evaluate = (body: unknown) => agentd.api('POST', '/v1/evaluate', body);
const healthy = async () => expect((await agentd.api('GET', '/healthz')).body).toEqual({ ok: true });

describe('POST /v1/evaluate', () => {
  it('answers allow, deny and require_approval with the rule, reason, policy version and record seq', async () => {
    const version = (await agentd.api('GET', '/v1/policy')).body.version;
    const read = await evaluate({ agent: { id: 'bot', labels: { team: 'x' } }, action: 'file.read', resource: '/data/a.csv', arguments: { n: 1 }, context: { why: 'report' } });
    expect(read).toMatchObject({ status: 200, body: { decision: 'allow', rule: 'reads-ok', policy_version: version } });
    const del = await evaluate({ agent: 'bot', action: 'file.delete', resource: '/data/a.csv' });
    expect(del.body).toMatchObject({ decision: 'deny', rule: 'no-deletes' });
    expect(del.body.seq).toBe(read.body.seq + 1);
    const mail = await evaluate({ agent: 'bot', action: 'email.send', tool: 'email' });
    expect(mail.body).toMatchObject({ decision: 'require_approval', rule: 'email-needs-a-human', approval_id: expect.stringMatching(/^ap-\d+$/) });
    const other = await evaluate({ agent: 'bot', action: 'file.read', resource: '/etc/passwd' });
    expect(other.body).toMatchObject({ decision: 'deny', rule: 'default-deny' });
    const [record] = (await agentd.api('GET', `/v1/decisions?since=0&agent=bot&syscall=file.delete`)).body;
    expect(record).toMatchObject({ seq: del.body.seq, type: 'syscall', pid: 0, agent: 'bot', path: '/data/a.csv', decision: 'deny', rule: 'no-deletes', policy: version });
  });

  // Every message names the field at fault, as PART/PATH: what is wrong.
  const MALFORMED: [string, unknown, RegExp][] = [
    ['agent of the wrong type', { agent: 5, action: 'file.read' }, /^body\/agent: must be string or object$/],
    ['action of the wrong type', { agent: 'a', action: ['file.read'] }, /^body\/action: must be string$/],
    ['a label that is not a string', { agent: { id: 'a', labels: { team: 1 } }, action: 'x' }, /^body\/agent\/labels\/team: must be string$/],
    ['arguments that are an array', { agent: 'a', action: 'x', arguments: [1] }, /^body\/arguments: must be object$/],
    ['an unknown access mode', { agent: 'a', action: 'x', access: 'exec' }, /^body\/access: must be one of 'read', 'write', 'none'$/],
    ['a missing action', { agent: 'a' }, /^body\/action: required property 'action' is missing$/],
    ['a missing agent', { action: 'x' }, /required property 'agent'/],
    ['an empty agent id', { agent: '', action: 'x' }, /^body\/agent: must NOT have fewer than 1 characters$/],
    ['an unknown field', { agent: 'a', action: 'x', sudo: true }, /^body\/sudo: unknown property 'sudo' \(known: agent, action, resource, access, tool, arguments, context, approval_id\)$/],
    ['an unknown field in the agent', { agent: { id: 'a', root: true }, action: 'x' }, /^body\/agent\/root: unknown property 'root' \(known: id, labels, capabilities\)$/],
    ['an agent object without its id', { agent: { labels: {} }, action: 'x' }, /^body\/agent\/id: required property 'id' is missing$/],
    ['a body that is an array', [], /^body: must be object$/],
    ['a body that is null', null, /^body: must be object$/],
    ['a string too long', { agent: 'a', action: 'x'.repeat(129) }, /^body\/action: must NOT have more than 128 characters$/],
    ['arguments nested 33 deep', { agent: 'a', action: 'x', arguments: { a: JSON.parse(`${'['.repeat(33)}${']'.repeat(33)}`) } }, /nest at most 32 deep/],
  ];
  it.each(MALFORMED)('%s gets 400 with a message', async (_what, body, message) => {
    const r = await evaluate(body);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(message);
    await healthy();
  });

  it('query and path parameters, and other routes\' bodies, that fail their schema get 400 naming the field', async () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['GET', '/v1/decisions?bogus=1', undefined, /^querystring\/bogus: unknown property 'bogus' \(known: [a-z, ]*\bsince\b[a-z, ]*\)$/],
      ['GET', '/v1/decisions?since=abc', undefined, /^querystring\/since: must be /],
      ['GET', '/v1/processes/abc', undefined, /^params\/pid: must be integer$/],
      ['PUT', '/v1/policy', { source: POLICY, sauce: 1 }, /^body\/sauce: unknown property 'sauce' \(known: [a-z, ]*\bsource\b[a-z, ]*\)$/],
      ['POST', '/v1/policy/validate', {}, /^body\/source: required property 'source' is missing$/],
      // An agent id as the kernel's (an attacker pass: NUL, newlines and '../' were kept, each a trust score and a metrics series).
      ['POST', '/v1/evaluate', { agent: 'a\nb', action: 'file.read' }, /^body\/agent: must /],
      ['POST', '/v1/evaluate', { agent: { id: '../x' }, action: 'file.read' }, /^body\/agent/],
    ];
    for (const [method, path, body, message] of cases) {
      const r = await agentd.api(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(400);
      expect(r.body.error, `${method} ${path}`).toMatch(message);
    }
    await healthy();
  });

  it('invalid JSON and prototype poisoning get 400 with a message, a text body 415', async () => {
    for (const raw of ['{"agent":"a","action":', '{"agent":"a","action":"x",}', "{'agent':'a'}", '{"agent":"a","action":"x","arguments":{"__proto__":{"admin":true}}}', '']) {
      const r = await agentd.api('POST', '/v1/evaluate', undefined, { raw });
      expect(r.status, raw).toBe(400);
      expect(typeof r.body.error, raw).toBe('string');
    }
    const text = await fetch(`${agentd.url}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${agentd.token}`, 'content-type': 'text/plain' }, body: 'agent=a' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { error: string }).error).toMatch(/^the body must be JSON, sent with content-type: application\/json/);
    await healthy();
  });

  it('a body over 256 KiB gets 413', async () => {
    const r = await evaluate({ agent: 'a', action: 'x', arguments: { blob: 'x'.repeat(256 * 1024) } });
    expect(r.status).toBe(413);
    expect(r.body.error).toMatch(/too large/);
    await healthy();
  });

  it('nesting 10,000 levels deep, in arrays or objects, gets 400 and the daemon lives on', async () => {
    const arrays = `{"agent":"a","action":"x","arguments":{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    const objects = `{"agent":"a","action":"x","context":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`;
    const inAgent = `{"agent":${'{"id":'.repeat(10_000)}"a"${'}'.repeat(10_000)},"action":"x"}`;
    for (const raw of [arrays, objects, inAgent]) {
      const r = await agentd.api('POST', '/v1/evaluate', undefined, { raw });
      expect(r.status).toBe(400);
      expect(typeof r.body.error).toBe('string');
    }
    await healthy();
    expect((await evaluate({ agent: 'a', action: 'file.read', resource: '/data/x' })).body.decision).toBe('allow');
    expect((await agentd.api('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});

describe('hot reload of the policy', () => {
  it('a bad policy is refused with 400 naming line and field; the old one keeps deciding', async () => {
    const before = (await agentd.api('GET', '/v1/policy')).body.version;
    const bad = POLICY.replace('effect: deny', 'effect: perhaps');
    const r = await agentd.api('PUT', '/v1/policy', { source: bad });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ ok: false, kept: before, line: 9, field: 'rules[1].effect', error: expect.stringContaining('rules[1].effect') });
    const validate = await agentd.api('POST', '/v1/policy/validate', { source: 'version: 1\nrules:\n  - id: x\n    effect: allow\n    syscalls: [SYS_OPEN]\n    bogus: 1\n' });
    expect(validate).toMatchObject({ status: 400, body: { ok: false, line: expect.any(Number) } });
    expect((await agentd.api('GET', '/v1/policy')).body.version).toBe(before);
    expect((await evaluate({ agent: 'a', action: 'file.delete' })).body).toMatchObject({ decision: 'deny', rule: 'no-deletes', policy_version: before });
    expect((await agentd.api('PUT', '/v1/policy', { source: '' })).status).toBe(400);
    expect((await agentd.api('GET', '/v1/policy')).body.version).toBe(before);
  });

  it('a misspelt placeholder is refused naming line, field and the known placeholders; the old policy stays', async () => {
    const before = (await agentd.api('GET', '/v1/policy')).body.version;
    const r = await agentd.api('PUT', '/v1/policy', { source: POLICY.replace('/agent/${agent}/**', '/agent/${agnet}/**'), filename: 'typo.yaml' });
    expect(r).toMatchObject({ status: 400, body: { ok: false, kept: before, line: 20, field: 'rules[4].paths[0]' } });
    expect(r.body.error).toBe("typo.yaml:20:13: rules[4].paths[0]: unknown placeholder '${agnet}' (known placeholders: ${agent}, in paths only)");
    expect((await agentd.api('GET', '/v1/policy')).body.version).toBe(before);
  });

  it('a good policy takes effect for the next decision, and the swap is on the record', async () => {
    const before = (await agentd.api('GET', '/v1/policy')).body.version;
    const lenient = POLICY.replace('effect: deny', 'effect: allow');
    expect((await agentd.api('POST', '/v1/policy/validate', { source: lenient })).body).toMatchObject({ ok: true, rules: 5 });
    const r = await agentd.api('PUT', '/v1/policy', { source: lenient, filename: 'lenient.yaml' });
    expect(r).toMatchObject({ status: 200, body: { ok: true, previous: before } });
    expect(r.body.version).not.toBe(before);
    expect((await evaluate({ agent: 'a', action: 'file.delete' })).body).toMatchObject({ decision: 'allow', rule: 'no-deletes', policy_version: r.body.version });
    const [swap] = (await agentd.api('GET', '/v1/decisions?type=policy&limit=1')).body;
    expect(swap).toMatchObject({ type: 'policy', detail: `policy replaced: ${before} -> ${r.body.version}`, policy: r.body.version });
    await agentd.api('PUT', '/v1/policy', { source: POLICY });
  });
});

describe('GET /v1/decisions/stream', () => {
  it('a follower sees each decision, in order, as the next event after the request that causes it', async () => {
    const abort = new AbortController();
    const res = await fetch(`${agentd.url}/v1/decisions/stream?agent=sse`, { headers: { authorization: `Bearer ${agentd.token}` }, signal: abort.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    /** next reads until a whole `data:` event has arrived and returns its record. */
    const next = async (): Promise<{ seq: number; agent: string }> => {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split('\n').find((l) => l.startsWith('data: '));
          if (data) return JSON.parse(data.slice(6));
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffer += decoder.decode(value, { stream: true });
      }
    };
    // How soon it arrives is for bench/; here, that it is pushed: the next event is the decision just made, every time.
    const seqs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const [answer, record] = await Promise.all([evaluate({ agent: 'sse', action: 'file.delete', arguments: { i } }), next()]);
      expect(record).toMatchObject({ seq: answer.body.seq, agent: 'sse' });
      seqs.push(record.seq);
    }
    abort.abort();
    expect(seqs).toEqual(seqs.toSorted((a, b) => a - b));
  });
});

describe('service endpoints', () => {
  it('/openapi.json is an OpenAPI 3 document listing every endpoint, each with responses and its path parameters', async () => {
    const doc = (await agentd.api('GET', '/openapi.json')).body;
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: 'agentd', version: expect.any(String) });
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);
    const operations = Object.entries(doc.paths as Record<string, Record<string, { responses: object; parameters?: { in: string; name: string; required?: boolean }[] }>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ path, method, op })),
    );
    const listed = operations.map((o) => `${o.method.toUpperCase()} ${o.path}`);
    for (const endpoint of [
      'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /v1/processes', 'POST /v1/processes', 'GET /v1/processes/{pid}', 'GET /v1/processes/{pid}/output',
      'POST /v1/processes/{pid}/signal', 'POST /v1/processes/{pid}/checkpoint', 'GET /v1/approvals', 'GET /v1/approvals/{id}', 'POST /v1/approvals/{id}/approve',
      'POST /v1/approvals/{id}/deny', 'GET /v1/decisions', 'GET /v1/decisions/stream', 'POST /v1/audit/verify', 'GET /v1/policy', 'PUT /v1/policy',
      'POST /v1/policy/validate', 'GET /v1/processes/{pid}/vfs/ls', 'GET /v1/processes/{pid}/vfs/cat', 'GET /v1/processes/{pid}/checkpoints', 'POST /v1/evaluate',
      'GET /v1/principals', 'POST /v1/principals', 'DELETE /v1/principals/{name}', 'GET /v1/whoami',
    ]) expect(listed).toContain(endpoint);
    for (const { path, method, op } of operations) {
      expect(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']).toContain(method);
      expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(0);
      for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
        expect(op.parameters?.find((p) => p.in === 'path' && p.name === name), `${method} ${path} declares ${name}`).toMatchObject({ required: true });
      }
    }
    const evaluateBody = doc.paths['/v1/evaluate'].post.requestBody.content['application/json'].schema;
    // `agent` may be left out with an agent credential (it is the credential's own agent).
    expect(evaluateBody.required).toEqual(['action']);
    expect(Object.keys(evaluateBody.properties)).toEqual(['agent', 'action', 'resource', 'access', 'tool', 'arguments', 'context', 'approval_id']);
  });

  it('/metrics exposes syscalls, processes by state, pending approvals and signals in Prometheus text', async () => {
    const pid = await spawnAgent(agentd, IDLE_AGENT);
    await agentd.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGSTOP' });
    await evaluate({ agent: 'metrics', action: 'email.send' });
    const r = await agentd.api('GET', '/metrics');
    expect(r.status).toBe(200);
    const text = r.text;
    for (const name of ['agentk_syscalls_total', 'agentk_processes', 'agentk_pending_approvals', 'agentk_signals_total', 'agentk_syscall_duration_seconds', 'agentk_evaluate_duration_seconds']) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
    }
    expect(text).toMatch(/^agentk_syscalls_total\{syscall="SYS_WRITE",decision="allow"\} [1-9]\d*$/m);
    // Evaluate requests are timed by their own histogram, and counted by decision (found by an attacker pass: they were in no counter).
    expect(Number(/^agentk_evaluate_duration_seconds_count (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(5);
    expect(Number(/^agentk_evaluate_decisions_total\{decision="require_approval"\} (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^agentk_processes\{state="stopped"\} 1$/m);
    expect(Number(/^agentk_pending_approvals (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^agentk_signals_total\{signal="SIGSTOP",outcome="stopped"\} 1$/m);
  });

  it('ps and /metrics show what the kernel accounts to each agent: its tree (CPU, kernel time, syscalls) and its files (bytes, inodes, quota)', async () => {
    const pid = await spawnAgent(agentd, `sys.writeFile('mem/working/a', 'x'.repeat(5000)); ${IDLE_AGENT}`, { id: 'accounted' });
    const listed = (await agentd.api('GET', `/v1/processes/${pid}`)).body as { tree: Record<string, number> };
    expect(listed.tree).toMatchObject({ root: pid, processes: 1, vfsBytes: 5000, vfsBytesLimit: 32 * 1024 * 1024, vfsInodesLimit: 8192 });
    expect(listed.tree.cpuMs).toBeGreaterThan(0);
    expect(listed.tree.kernelMs).toBeGreaterThan(0);
    const text = (await agentd.api('GET', '/metrics')).text;
    expect(text).toMatch(/^agentk_agent_vfs_bytes\{agent="accounted"\} 5000$/m);
    expect(text).toMatch(/^agentk_agent_vfs_bytes_limit\{agent="accounted"\} 33554432$/m);
    expect(text).toMatch(/^agentk_agent_processes\{agent="accounted"\} 1$/m);
    expect(text).toMatch(/^agentk_agent_cpu_seconds\{agent="accounted"\} \d/m);
    expect(text).toMatch(/^agentk_agent_kernel_cpu_seconds\{agent="accounted"\} \d/m);
  });

  it('/healthz and /readyz answer while the daemon runs', async () => {
    expect(await agentd.api('GET', '/healthz')).toMatchObject({ status: 200, body: { ok: true } });
    expect(await agentd.api('GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true } });
  });
});
