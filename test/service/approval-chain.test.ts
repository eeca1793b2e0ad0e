/**
 * Approvers beyond the terminal, in a chain (approvals.mode chain), against
 * a real agentd: a command (a real program, the question on its stdin) and
 * a model reviewer (agentd's llm.chat against a scripted model server on
 * loopback) are asked in turn; each approves, denies or escalates, and a
 * question both escalate waits for a person. A step that fails — a program
 * that exits 1 or never answers, a model that answers prose — denies: fail
 * closed. A reviewer that may not approve escalates instead. Every answer
 * names its approver in the record, every escalation is recorded.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentd, until, type Agentd } from './helpers.ts';

const POLICY = `version: 1
defaults: { approval_timeout_ms: 20000 }
rules:
  - { id: files-need-a-human, effect: require_approval, syscalls: [file.delete, file.purge, file.read, file.crash, file.hang, file.chat] }
  - { id: the-rest, effect: allow }
`;

/** review.mjs: denies deletes, exits 1 on "file.crash", never answers "file.hang", escalates the rest. */
const REVIEW = `let text = '';
process.stdin.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => {
  const q = JSON.parse(text);
  if (q.syscall === 'file.crash') process.exit(1);
  if (q.syscall === 'file.hang') return setTimeout(() => {}, 60000);
  const verdict = q.syscall === 'file.delete' ? 'deny' : 'escalate';
  console.log(JSON.stringify({ verdict, reason: 'review.mjs saw ' + q.syscall + ' by ' + q.agent }));
});
`;

/** The model's answer for a question, by the action in it. */
function modelSays(question: { syscall: string }): string {
  if (question.syscall === 'file.purge') return JSON.stringify({ verdict: 'deny', reason: 'purging is destructive' });
  if (question.syscall === 'file.read') return JSON.stringify({ verdict: 'approve', reason: 'reading is harmless' });
  if (question.syscall === 'file.chat') return 'Sure! I think this is probably fine.';
  return JSON.stringify({ verdict: 'escalate', reason: 'a person should look' });
}

describe('a chain of approvers: a command, a model reviewer, then a person', { timeout: 60_000 }, () => {
  const asked: unknown[] = [];
  const model = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const request = JSON.parse(body) as { messages: { role: string; content: string }[] };
      asked.push(request);
      const question = JSON.parse(request.messages.at(-1)!.content) as { syscall: string };
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ model: 'stand-in', choices: [{ message: { role: 'assistant', content: modelSays(question) }, finish_reason: 'stop' }], usage: { total_tokens: 42 } }),
      );
    });
  });
  let agentd: Agentd;

  beforeAll(async () => {
    await new Promise<void>((resolve) => model.listen(0, '127.0.0.1', resolve));
    const port = (model.address() as AddressInfo).port;
    agentd = await startAgentd(
      [
        'policy: policy.yaml',
        'tools:',
        '  builtin:',
        `    llm.chat: { endpoint: "http://127.0.0.1:${port}/v1", model: stand-in }`,
        'approvals:',
        '  mode: chain',
        '  chain:',
        `    - command: { argv: ["${process.execPath}", review.mjs], name: review, timeout_ms: 1500 }`,
        '    - reviewer: { model: stand-in, timeout_ms: 5000 }',
        '',
      ].join('\n'),
      { 'policy.yaml': POLICY, 'review.mjs': REVIEW },
    );
  }, 30_000);

  afterAll(async () => {
    await agentd?.remove();
    model.close();
  });

  /** ask opens a question for `action` and waits (up to 5 s) for its answer. */
  const ask = async (action: string, waitMs = 5000) => {
    const opened = await agentd.api('POST', '/v1/evaluate', { agent: 'worker', action, arguments: { path: '/data/all' } });
    expect(opened.body).toMatchObject({ decision: 'require_approval' });
    const id = (opened.body as { approval_id: string }).approval_id;
    return { id, status: (await agentd.api('GET', `/v1/approvals/${id}?wait=${waitMs}`)).body as { status: string; answer?: { approver: string; reason: string } } };
  };
  // Whole lines only: agentd may be writing the last one (a CI run read half a line).
  const approvalRecords = () =>
    readFileSync(agentd.logFile, 'utf8')
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l) as { type: string; detail?: string })
      .filter((r) => r.type === 'approval')
      .map((r) => r.detail);

  it('the command denies first: the model is not asked', async () => {
    const before = asked.length;
    const { id, status } = await ask('file.delete');
    expect(status).toMatchObject({ status: 'denied', answer: { approver: 'command:review', reason: 'review.mjs saw file.delete by worker' } });
    expect(asked.length).toBe(before);
    await until(async () => approvalRecords().includes(`denied file.delete (${id}) by command:review: review.mjs saw file.delete by worker`), 'the answer on record');
  });

  it('the command escalates and the reviewer denies; the escalation is on record', async () => {
    const { id, status } = await ask('file.purge');
    expect(status).toMatchObject({ status: 'denied', answer: { approver: 'reviewer:stand-in', reason: 'purging is destructive' } });
    const request = asked.at(-1) as { messages: { role: string; content: string }[]; response_format: unknown; model: string };
    expect(request).toMatchObject({ model: 'stand-in', response_format: { type: 'json_object' } });
    expect(JSON.parse(request.messages[1]!.content)).toMatchObject({ id, agent: 'worker', syscall: 'file.purge', rule: 'files-need-a-human', arguments: { path: '/data/all' } });
    await until(async () => approvalRecords().includes(`escalated file.purge (${id}) by command:review: review.mjs saw file.purge by worker`), 'the escalation on record');
  });

  it('a reviewer that may not approve escalates what it would approve: a person decides, and the record names the person', async () => {
    const { id, status } = await ask('file.read', 0);
    expect(status).toMatchObject({ status: 'pending' });
    await until(async () => approvalRecords().some((d) => d?.startsWith(`escalated file.read (${id}) by reviewer:stand-in: the reviewer would approve (reading is harmless), but may not`)), 'the reviewer escalation');
    expect((await agentd.api('GET', `/v1/approvals/${id}`)).body).toMatchObject({ status: 'pending' });
    expect((await agentd.api('POST', `/v1/approvals/${id}/approve`, { reason: 'fine by me' })).body).toMatchObject({ status: 'approved', answer: { approver: 'operator' } });
    await until(async () => approvalRecords().includes(`granted file.read (${id}) by operator: fine by me`), 'the answer on record');
  });

  it('fails closed: a command that exits 1 or never answers, a model that answers prose', async () => {
    expect((await ask('file.crash')).status).toMatchObject({ status: 'denied', answer: { approver: 'command:review', reason: expect.stringMatching(/^the approver failed, so the answer is no: command:review exited 1/) } });
    expect((await ask('file.hang')).status).toMatchObject({ status: 'denied', answer: { approver: 'command:review', reason: 'the approver failed, so the answer is no: command:review: no verdict within 1500 ms' } });
    expect((await ask('file.chat')).status).toMatchObject({ status: 'denied', answer: { approver: 'reviewer:stand-in', reason: expect.stringMatching(/the model answered no verdict \(not JSON/) } });
  });

  it('a chain whose reviewer has no llm.chat, or a chain that is empty, does not start', async () => {
    await expect(startAgentd('approvals:\n  mode: chain\n  chain:\n    - reviewer: {}\n')).rejects.toThrow(/approvals\.chain\[0\]\.reviewer asks a model through llm\.chat, and the tools configuration has none/);
    await expect(startAgentd('approvals:\n  mode: chain\n')).rejects.toThrow(/approvals\.mode chain needs approvals\.chain/);
  });
});
