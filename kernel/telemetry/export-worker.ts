/**
 * The telemetry export worker: turns the compact span records the kernel's
 * event loop hands over (worker-exporter.ts) back into what the OpenTelemetry
 * OTLP/HTTP exporter reads, and exports them, so that encoding and sending
 * spans costs the event loop nothing. Messages in: `{ kind: 'spans', spans }`,
 * `{ kind: 'flush', id }`, `{ kind: 'shutdown', id }`; out: `{ kind: 'done',
 * id }` once a flush or shutdown is over, `{ kind: 'exported', ok }` per batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SpanContext } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { CompactSpan, ExportWorkerData, ToWorker } from './worker-exporter.ts';

const data = workerData as ExportWorkerData;
const exporter = new OTLPTraceExporter({ url: data.endpoint, timeoutMillis: data.timeoutMs, headers: { ...data.headers } });
const resource = resourceFromAttributes({ 'service.name': data.serviceName });
const scope = { name: 'agent-kernel' };

/** readable is the ReadableSpan the exporter reads, made from a compact record. */
function readable(s: CompactSpan): ReadableSpan {
  const context: SpanContext = { traceId: s.traceId, spanId: s.spanId, traceFlags: s.traceFlags };
  return {
    name: s.name,
    kind: s.kind,
    spanContext: () => context,
    ...(s.parentSpanId !== undefined ? { parentSpanContext: { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: s.traceFlags } } : {}),
    startTime: s.startTime,
    endTime: s.endTime,
    duration: [s.endTime[0] - s.startTime[0], s.endTime[1] - s.startTime[1]],
    status: { code: s.statusCode, ...(s.statusMessage !== undefined ? { message: s.statusMessage } : {}) },
    attributes: s.attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

parentPort!.on('message', (message: ToWorker) => {
  if (message.kind === 'spans') {
    // oxlint-disable-next-line unicorn/require-post-message-target-origin -- a worker_threads port, not window.postMessage
    exporter.export(message.spans.map(readable), (result) => parentPort!.postMessage({ kind: 'exported', ok: result.code === 0 }));
    return;
  }
  // oxlint-disable-next-line unicorn/require-post-message-target-origin -- a worker_threads port, not window.postMessage
  const done = () => parentPort!.postMessage({ kind: 'done', id: message.id });
  (message.kind === 'flush' ? exporter.forceFlush() : exporter.shutdown()).then(done, done);
});
