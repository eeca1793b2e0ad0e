/**
 * OpenTelemetry traces from a real kernel to a loopback OTLP/HTTP receiver:
 * an agent's lifetime span holds a span per syscall decision (rule, effect,
 * policy version, record seq), a tool call's span sits inside its SYS_EXEC,
 * an approval wait has its own span, a denial is an error span.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedApprover } from '../../kernel/approvals.ts';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { OtelTelemetry } from '../../kernel/telemetry/otel.ts';
import { runAgent, testKernel } from '../helpers.ts';
import { startAgentd, until } from '../service/helpers.ts';
import { type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.ts';

let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => receiver.close());

const POLICY = parsePolicy(
  [
    'version: 1',
    'rules:',
    '  - { id: out, effect: allow, syscalls: [SYS_WRITE, SYS_GETPID] }',
    '  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }',
    '  - { id: ask-list, effect: require_approval, syscalls: [SYS_EXEC], tools: [tools.list] }',
    '',
  ].join('\n'),
  'otel-test.yaml',
);

describe('OpenTelemetry', () => {
  it('traces an agent: lifetime, decisions with rule and record seq, a tool call, an approval wait, a denial', async () => {
    const telemetry = new OtelTelemetry({ endpoint: receiver.url, serviceName: 'otel-test', exportIntervalMs: 50 });
    const recorder = new MemoryDecisionLog();
    const { kernel } = testKernel({ policy: POLICY, recorder, telemetry, approver: fixedApprover(true) });
    const { exit } = await runAgent(
      "sys.getpid(); sys.exec('time.now', {}); sys.exec('tools.list', {}); try { sys.mkdir('/tmp/x'); } catch {}",
      { kernel, manifest: { id: 'traced', capabilities: ['tool:time.now', 'tool:tools.list'] } },
    );
    expect(exit.status).toBe(0);
    await kernel.shutdown();
    // Each flush waits at most 2 s for the export worker (a collector that is slow loses spans, by design); on a loaded
    // machine the worker may still be loading the exporter then, so flush until the spans are there.
    await until(async () => {
      await telemetry.flush();
      return receiver.spans.some((x) => x.name === 'agent traced');
    }, 'the agent lifetime span to be exported');
    await telemetry.shutdown();

    const spans = receiver.spans;
    const by = (name: string): ReceivedSpan => {
      const s = spans.find((x) => x.name === name);
      if (s === undefined) throw new Error(`no span ${name} among ${spans.map((x) => x.name).join(', ')}`);
      return s;
    };
    const agent = by('agent traced');
    expect(agent.service).toBe('otel-test');
    expect(agent.attributes).toMatchObject({ 'agent_kernel.agent': 'traced', 'agent_kernel.exit_status': 0 });
    const records = recorder.list();
    const seqOf = (syscall: string) => records.find((r) => r.type === 'syscall' && r.syscall === syscall)!.seq;

    const getpid = by('SYS_GETPID');
    expect(getpid.parentSpanId).toBe(agent.spanId);
    expect(getpid.traceId).toBe(agent.traceId);
    expect(getpid.attributes).toMatchObject({ 'agent_kernel.decision': 'allow', 'agent_kernel.rule': 'out', 'agent_kernel.record_seq': seqOf('SYS_GETPID'), 'agent_kernel.policy_version': POLICY.version });

    const execs = spans.filter((s) => s.name === 'SYS_EXEC');
    const clock = execs.find((s) => s.attributes['agent_kernel.tool'] === 'time.now')!;
    expect(clock.attributes).toMatchObject({ 'agent_kernel.decision': 'allow', 'agent_kernel.rule': 'clock' });
    expect(by('tool time.now').parentSpanId).toBe(clock.spanId);

    const asked = execs.find((s) => s.attributes['agent_kernel.tool'] === 'tools.list')!;
    expect(asked.attributes).toMatchObject({ 'agent_kernel.decision': 'require_approval', 'agent_kernel.rule': 'ask-list' });
    const approval = by('approval');
    expect(approval.parentSpanId).toBe(asked.spanId);
    expect(approval.attributes['agent_kernel.approver']).toBeTypeOf('string');
    expect(by('tool tools.list').parentSpanId).toBe(asked.spanId);

    const denied = by('SYS_MKDIR');
    expect(denied.attributes).toMatchObject({ 'agent_kernel.decision': 'deny', 'agent_kernel.rule': 'capability', 'agent_kernel.errno': 'EACCES' });
    expect(denied.status?.code).toBe(2);
  });

  it('sampleRatio 0 traces nothing, and the agent runs the same', async () => {
    const telemetry = new OtelTelemetry({ endpoint: receiver.url, exportIntervalMs: 10, sampleRatio: 0 });
    const { kernel } = testKernel({ policy: POLICY, telemetry });
    const { exit } = await runAgent('for (let i = 0; i < 50; i++) sys.getpid();', { kernel, manifest: { id: 'unsampled' } });
    expect(exit.status).toBe(0);
    await kernel.shutdown();
    await telemetry.shutdown();
    expect(receiver.spans.filter((s) => s.name === 'agent unsampled' || s.attributes['agent_kernel.agent'] === 'unsampled')).toEqual([]);
  });

  it('a collector that is down loses spans, never a decision', async () => {
    const telemetry = new OtelTelemetry({ endpoint: 'http://127.0.0.1:9/v1/traces', exportIntervalMs: 10 });
    const { kernel } = testKernel({ policy: POLICY, telemetry });
    const { exit, stdout } = await runAgent('for (let i = 0; i < 200; i++) sys.getpid(); console.log("done")', { kernel });
    expect(exit.status).toBe(0);
    expect(stdout).toBe('done\n');
    await kernel.shutdown();
    await telemetry.shutdown();
  });

  it('agentd with a telemetry: section exports the traces of the agents it runs', async () => {
    const before = receiver.spans.length;
    const agentd = await startAgentd(`telemetry: { otlp_endpoint: "${receiver.url}", service_name: agentd-test, export_interval_ms: 50 }\n`);
    try {
      const spawned = await agentd.api('POST', '/v1/processes', { source: 'sys.getpid();', filename: 'traced.js', manifest: { id: 'daemon-traced' } });
      expect(spawned.status).toBe(201);
      await until(() => receiver.spans.slice(before).some((s) => s.name === 'agent daemon-traced'), 'the agent lifetime span to arrive');
      const agent = receiver.spans.slice(before).find((s) => s.name === 'agent daemon-traced')!;
      expect(agent.service).toBe('agentd-test');
      expect(agent.attributes['agent_kernel.agent']).toBe('daemon-traced');
      expect(receiver.spans.slice(before).filter((s) => s.parentSpanId === agent.spanId).map((s) => s.name)).toContain('SYS_GETPID');
    } finally {
      await agentd.remove();
    }
  });
});
