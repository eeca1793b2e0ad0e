/**
 * The telemetry export worker: turns the compact span records the kernel's
 * event loop hands over (worker-exporter.ts) back into what the OpenTelemetry
 * OTLP/HTTP exporter reads, and exports them, so that encoding and sending
 * spans costs the event loop nothing. Messages in: `{ kind: 'spans', spans }`,
 * `{ kind: 'flush', id }`, `{ kind: 'shutdown', id }`; out: `{ kind: 'done',
 * id }` once a flush or shutdown is over, `{ kind: 'exported', ok, chars }`
 * per batch (`chars`: the length of its JSON, which the kernel counts in flight).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SpanContext } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { CompactSpan, ExportWorkerData, FromWorker, ToWorker } from './worker-exporter.ts';

const data = workerData as ExportWorkerData;
const exporter = new OTLPTraceExporter({ url: data.endpoint, timeoutMillis: data.timeoutMs, headers: { ...data.headers } });
const resource = resourceFromAttributes({ 'service.name': data.serviceName });
const scope = { name: 'agent-kernel' };

/** readable is the ReadableSpan the exporter reads, made from a compact record. */
function readable([name, kind, traceId, spanId, traceFlags, parentSpanId, startTime, endTime, attributes, statusCode, statusMessage]: CompactSpan): ReadableSpan {
  const context: SpanContext = { traceId, spanId, traceFlags };
  return {
    name,
    kind,
    spanContext: () => context,
    ...(parentSpanId !== null ? { parentSpanContext: { traceId, spanId: parentSpanId, traceFlags } } : {}),
    startTime,
    endTime,
    duration: [endTime[0] - startTime[0], endTime[1] - startTime[1]],
    status: { code: statusCode, ...(statusMessage !== null ? { message: statusMessage } : {}) },
    attributes,
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
    const chars = message.spans.length;
    // oxlint-disable-next-line unicorn/require-post-message-target-origin -- a worker_threads port, not window.postMessage
    exporter.export((JSON.parse(message.spans) as CompactSpan[]).map(readable), (result) => parentPort!.postMessage({ kind: 'exported', ok: result.code === 0, chars } satisfies FromWorker));
    return;
  }
  // oxlint-disable-next-line unicorn/require-post-message-target-origin -- a worker_threads port, not window.postMessage
  const done = () => parentPort!.postMessage({ kind: 'done', id: message.id });
  (message.kind === 'flush' ? exporter.forceFlush() : exporter.shutdown()).then(done, done);
});
