/**
 * OpenTelemetry traces of what the kernel decides, through the OpenTelemetry
 * JS SDK (a TracerProvider of its own, not the global one, so an embedding
 * program's tracing is left alone): a span per agent lifetime (`agent
 * <id>`), per syscall decision (`SYS_…`, inside its agent's span) with the
 * rule, effect, policy version and decision-record seq as attributes, per
 * tool call (`tool <name>`) and per approval wait (`approval`), exported in
 * batches by OTLP/HTTP (JSON) to `endpoint`. Export happens off the decision
 * path: the BatchSpanProcessor's bounded queue hands batches to a worker
 * thread that encodes and sends them (worker-exporter.ts), dropping spans
 * rather than waiting; a collector that is down loses spans, never a decision.
 * What a span carries is bounded: an attribute's value and a span's name are
 * at most MAX_TRACE_CHARS characters, since an agent names its paths, tools
 * and, outside the kernel, its actions (4 KiB paths at 6,000 spans/s ran the
 * export worker out of heap: an attacker pass).
 */
import { type Context, context, type Span, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import { TRACE_ATTR as ATTR, type Telemetry, type TraceSpan } from '../../syscalls/telemetry.ts';
import { type ExportStats, WorkerExporter } from './worker-exporter.ts';

export interface TelemetryOptions {
  /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  readonly endpoint: string;
  /** Extra request headers (an API key). */
  readonly headers?: Readonly<Record<string, string>>;
  /** service.name of the resource. Default agent-kernel. */
  readonly serviceName?: string;
  /** Longest wait between exports, ms. Default 1000. */
  readonly exportIntervalMs?: number;
  /** Spans queued for export at most (more are dropped). Default 8192. */
  readonly maxQueue?: number;
  /** The share of agent lifetimes traced, 0 to 1 (their decisions go with them; callers outside the kernel are sampled per decision). Default 1. */
  readonly sampleRatio?: number;
}


/** The most characters of an attribute's value or a span's name; the rest is cut off. */
export const MAX_TRACE_CHARS = 256;

/** clip cuts a span's name to MAX_TRACE_CHARS, as the SDK cuts attribute values. */
const clip = (name: string): string => (name.length > MAX_TRACE_CHARS ? name.slice(0, MAX_TRACE_CHARS) : name);

/** The context spans are parented in: explicit parents only (no context manager; an embedding program's context is not used). */
const ROOT = context.active();

/** How long one export (and a flush at shutdown) may take before its spans are given up. */
const EXPORT_TIMEOUT_MS = 2000;

/** bounded waits for `work` at most EXPORT_TIMEOUT_MS and never throws: telemetry never holds up or fails the kernel. */
async function bounded(work: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, EXPORT_TIMEOUT_MS)))]);
  clearTimeout(timer);
}

class OtelSpan implements TraceSpan {
  private readonly span: Span;
  private readonly tracer: Tracer;

  constructor(tracer: Tracer, span: Span) {
    this.tracer = tracer;
    this.span = span;
  }

  set(key: string, value: string | number | boolean): void {
    this.span.setAttribute(key, value);
  }

  child(name: string): TraceSpan {
    return new OtelSpan(this.tracer, this.tracer.startSpan(clip(name), undefined, trace.setSpan(ROOT, this.span)));
  }

  end(errno?: string): void {
    if (errno !== undefined) {
      this.span.setAttribute(ATTR.errno, errno);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: errno });
    }
    this.span.end();
  }
}

/** OtelTelemetry is Telemetry on the OpenTelemetry SDK. */
export class OtelTelemetry implements Telemetry {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly exporter: WorkerExporter;
  /** Open lifetime spans by pid, with the context their decisions' spans are started in (made once, not per decision). */
  private readonly agents = new Map<number, { readonly span: Span; readonly context: Context }>();

  constructor(options: TelemetryOptions) {
    const serviceName = options.serviceName ?? 'agent-kernel';
    const exporter = new WorkerExporter({ endpoint: options.endpoint, headers: options.headers ?? {}, serviceName, timeoutMs: EXPORT_TIMEOUT_MS });
    this.exporter = exporter;
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': serviceName }),
      spanLimits: { attributeValueLengthLimit: MAX_TRACE_CHARS },
      // A decision is sampled with its agent's lifetime span; a lifetime (or a caller's decision outside the kernel) at sampleRatio.
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
      spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: options.exportIntervalMs ?? 1000, maxQueueSize: options.maxQueue ?? 8192 })],
    });
    this.tracer = this.provider.getTracer('agent-kernel');
  }

  agentStarted(pid: number, agentId: string, program: string): void {
    const span = this.tracer.startSpan(clip(`agent ${agentId}`), { attributes: { [ATTR.agent]: agentId, [ATTR.pid]: pid, [ATTR.program]: program } });
    this.agents.set(pid, { span, context: trace.setSpan(ROOT, span) });
  }

  agentEnded(pid: number, status: number, reason: string): void {
    const span = this.agents.get(pid)?.span;
    if (span === undefined) return;
    this.agents.delete(pid);
    span.setAttributes({ [ATTR.status]: status, [ATTR.reason]: reason });
    if (status !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    span.end();
  }

  syscall(pid: number, agentId: string, name: string): TraceSpan {
    const parent = this.agents.get(pid);
    // Inside its agent's lifetime span a decision needs no agent or pid of its own (the parent has them): fewer attributes, cheaper spans.
    const span = parent === undefined ? this.tracer.startSpan(clip(name), { attributes: { [ATTR.agent]: agentId, [ATTR.pid]: pid } }) : this.tracer.startSpan(clip(name), undefined, parent.context);
    return new OtelSpan(this.tracer, span);
  }

  /** exportStats: the batches dropped and failed, and the export worker's restarts, since the start. */
  exportStats(): ExportStats {
    const { dropped, failed, restarts } = this.exporter;
    return { dropped, failed, restarts };
  }

  /** flush exports what is queued, within EXPORT_TIMEOUT_MS; a collector that is down loses them. */
  async flush(): Promise<void> {
    await bounded(this.provider.forceFlush());
  }

  /** shutdown ends open lifetime spans and exports what is queued, within EXPORT_TIMEOUT_MS. */
  async shutdown(): Promise<void> {
    for (const { span } of this.agents.values()) span.end();
    this.agents.clear();
    await bounded(this.provider.shutdown());
  }
}
