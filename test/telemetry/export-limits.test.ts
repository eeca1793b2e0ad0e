/**
 * What the trace export holds, and that it outlives its worker, against a
 * loopback OTLP/HTTP receiver. An attacker pass sent 4 KiB paths at 6,000
 * spans/s to a slow collector: the export worker ran out of heap, nothing
 * started it again, and every later batch was dropped without a word. Now an
 * attribute's value and a span's name are cut to MAX_TRACE_CHARS, a worker
 * that ends is started again (what it held counted as failed), and /metrics
 * shows the batches lost.
 */
import type { Worker } from 'node:worker_threads';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../kernel/service/metrics.ts';
import { OtelTelemetry } from '../../kernel/telemetry/otel.ts';
import { WorkerExporter } from '../../kernel/telemetry/worker-exporter.ts';
import { TRACE_ATTR } from '../../syscalls/telemetry.ts';
import { testKernel } from '../helpers.ts';
import { until } from '../until.ts';
import { type OtlpReceiver, startOtlpReceiver } from './otlp-receiver.ts';

/** MAX_TRACE_CHARS (kernel/telemetry/otel.ts). */
const LIMIT = 256;

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => receiver.close());

describe('trace export', () => {
  it('cuts agent-chosen attribute values and span names to MAX_TRACE_CHARS (256)', async () => {
    const telemetry = new OtelTelemetry({ endpoint: receiver.url, serviceName: 'limits-test', exportIntervalMs: 20 });
    try {
      // As /v1/evaluate names a span after the caller's action, and the dispatcher sets the path an agent gave.
      const span = telemetry.syscall(0, 'bot', `long-action-${'x'.repeat(4096)}`);
      span.set(TRACE_ATTR.path, `/${'a'.repeat(4095)}`);
      span.child(`tool ${'t'.repeat(4096)}`).end();
      span.end();
      await until(async () => {
        await telemetry.flush();
        return receiver.spans.filter((s) => s.service === 'limits-test').length === 2;
      }, 'both spans to be exported');
      const [tool, decision] = receiver.spans.filter((s) => s.service === 'limits-test');
      expect(decision!.name).toBe(`long-action-${'x'.repeat(LIMIT - 12)}`);
      expect(decision!.attributes[TRACE_ATTR.path]).toBe(`/${'a'.repeat(LIMIT - 1)}`);
      expect(decision!.attributes[TRACE_ATTR.agent]).toBe('bot');
      expect(tool!.name).toHaveLength(LIMIT);
    } finally {
      await telemetry.shutdown();
    }
  });

  it('a worker that ends is started again: what it held counts as failed, and exports resume', async () => {
    const exporter = new WorkerExporter({ endpoint: receiver.url, headers: {}, serviceName: 'restart-test', timeoutMs: 60_000 });
    // Each span is its own batch, handed over as it ends.
    const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('restart-test');
    try {
      // A collector that takes three batches and answers none: the worker holds them.
      receiver.hold(true);
      for (const name of ['held-1', 'held-2', 'held-3']) tracer.startSpan(name).end();
      await until(() => receiver.held === 3, () => `the three batches to reach the collector (held ${receiver.held}, requests ${receiver.requests})`);
      // The worker ends as running out of heap ends it.
      await (exporter as unknown as { worker: Worker }).worker.terminate();
      await until(() => exporter.restarts === 1, 'the worker to be started again');
      expect(exporter.failed).toBe(3);
      receiver.hold(false);
      // Spans ended before the new worker runs are dropped (counted); the first after it is exported.
      await until(() => {
        tracer.startSpan('after').end();
        return receiver.spans.some((s) => s.service === 'restart-test' && s.name === 'after');
      }, 'a span ended after the restart to be exported');
      expect(receiver.spans.filter((s) => s.service === 'restart-test' && s.name.startsWith('held-'))).toEqual([]);
    } finally {
      receiver.hold(false);
      await exporter.shutdown();
    }
  });

  it("/metrics counts the batches lost, and the export worker's restarts", async () => {
    // A collector that is down: every batch fails.
    const telemetry = new OtelTelemetry({ endpoint: 'http://127.0.0.1:9/v1/traces', exportIntervalMs: 10 });
    const { kernel } = testKernel({ telemetry });
    const metrics = new Metrics();
    metrics.watch(kernel);
    try {
      const lost = async () => /^agentk_telemetry_batches_lost_total\{reason="failed"\} (\d+)$/m.exec(await metrics.registry.metrics())?.[1];
      await until(async () => {
        telemetry.syscall(0, 'bot', 'SYS_GETPID').end();
        return Number(await lost()) > 0;
      }, 'a failed batch to be counted');
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/^agentk_telemetry_batches_lost_total\{reason="dropped"\} \d+$/m);
      expect(text).toMatch(/^agentk_telemetry_worker_restarts_total 0$/m);
    } finally {
      await kernel.shutdown();
      await telemetry.shutdown();
    }
  });
});
