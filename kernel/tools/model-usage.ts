/**
 * Token usage in model responses that reach an agent through http.fetch from
 * an endpoint the configuration declares as a model endpoint: the `usage`
 * object of an OpenAI-style (`total_tokens`, or `prompt_tokens` +
 * `completion_tokens`), Anthropic-style (`input_tokens` + `output_tokens`,
 * and its prompt-cache tokens) or OpenAI Responses-style (`response.usage`)
 * answer, as one JSON body or in server-sent events. The tokens count
 * against the agent's token budgets as llm.chat's do.
 *
 * What an answer costs to read grows only with its size (it is within the
 * tool's output limit): an event line is parsed whole up to MAX_LINE; a
 * longer one (a Responses API `response.completed` event carries the whole
 * answer, and the request's metadata after its usage), and a body that is
 * neither JSON nor events (cut short), are searched for their last
 * MAX_USAGE_OBJECTS usage objects.
 */

/** The longest event line parsed whole. */
const MAX_LINE = 64 * 1024;
/** The longest usage object read out of text that is not parsed whole. */
const MAX_USAGE_CHARS = 4096;
/** The most usage objects read out of such text, from its end: the answer's own usage comes after anything it echoes. */
const MAX_USAGE_OBJECTS = 16;
/** What a LineBytes starts with. */
const FIRST_LINE_BYTES = 1024;
const NEWLINE = 0x0a;

type Usage = Record<string, unknown>;

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/** The fields a usage object reports tokens in. */
const FIELDS = ['total_tokens', 'prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const;
type Field = (typeof FIELDS)[number];

/**
 * UsageTally reads the usage objects of one response: each field's largest report, then their tokens. A stream
 * reports usage more than once: Anthropic its input tokens at the start and its output tokens, cumulative, at the end;
 * some servers the running total at every chunk. Neither the largest report (which left Anthropic's output uncounted)
 * nor the sum of reports (which counted a running total many times; found by a review) is the answer. A report can
 * only raise the count, so text an agent had echoed into an answer cannot lower it.
 */
class UsageTally {
  private readonly most = new Map<Field, number>();

  add(usage: unknown): void {
    if (usage === null || typeof usage !== 'object') return;
    const u = usage as Usage;
    for (const field of FIELDS) {
      const n = count(u[field]);
      if (n > (this.most.get(field) ?? 0)) this.most.set(field, n);
    }
  }

  /**
   * tokens is the largest of the total and the sums of each style's parts: OpenAI's prompt and completion tokens
   * (its prompt tokens hold cached ones, as a proxy's do that also reports Anthropic's cache fields: a review), and
   * Anthropic's input and output tokens with its prompt cache's, which its input tokens leave out.
   */
  get tokens(): number {
    const m = (field: Field) => this.most.get(field) ?? 0;
    return Math.max(m('total_tokens'), m('prompt_tokens') + m('completion_tokens'), m('input_tokens') + m('output_tokens') + m('cache_creation_input_tokens') + m('cache_read_input_tokens'));
  }
}

/** usageOf finds the usage object of a parsed JSON answer or event: top level, Anthropic's message.usage, the Responses API's response.usage. */
function usageOf(data: unknown): unknown {
  if (data === null || typeof data !== 'object') return undefined;
  const d = data as { usage?: unknown; message?: { usage?: unknown } | null; response?: { usage?: unknown } | null };
  return d.usage ?? d.message?.usage ?? d.response?.usage;
}

/** tokensIn returns the tokens a usage object reports (0 for none). */
export function tokensIn(usage: unknown): number {
  const tally = new UsageTally();
  tally.add(usage);
  return tally.tokens;
}

/** objectAt is the JSON object text that starts at `at` in `text` (its braces balanced, strings skipped), if whole within MAX_USAGE_CHARS. */
function objectAt(text: string, at: number): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = at; i < text.length && i < at + MAX_USAGE_CHARS; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(at, i + 1);
  }
  return undefined;
}

/** `"usage"` then `:` and `{`, read where a match of `"usage"` ends. */
const OPENS_OBJECT = /\s*:\s*\{/y;

/** addFound adds to `tally` the last MAX_USAGE_OBJECTS usage objects written out in `text`, which is not parsed whole. */
function addFound(tally: UsageTally, text: string): void {
  let found = 0;
  for (let at = text.lastIndexOf('"usage"'); at !== -1 && found < MAX_USAGE_OBJECTS; at = at === 0 ? -1 : text.lastIndexOf('"usage"', at - 1)) {
    OPENS_OBJECT.lastIndex = at + 7;
    if (!OPENS_OBJECT.test(text)) continue;
    found++;
    const object = objectAt(text, OPENS_OBJECT.lastIndex - 1);
    if (object === undefined) continue;
    try {
      tally.add(JSON.parse(object));
    } catch {
      // not a usage object after all
    }
  }
}

/** tokensInBody counts the usage of a whole answer: JSON, server-sent events, or JSON cut short (its usage read out of the text). */
export function tokensInBody(text: string): number {
  if (!text.includes('"usage"')) return 0;
  try {
    return tokensIn(usageOf(JSON.parse(text)));
  } catch {
    const tally = new UsageTally();
    let events = false;
    for (const line of text.split('\n')) events = addLine(tally, line.trimEnd()) || events;
    // A body cut before its end (the agent closed it, the limit, the time) still said what it used where it got to.
    if (!events) addFound(tally, text);
    return tally.tokens;
  }
}

/** addLine adds the usage of one event line (a `data:` line carrying "usage") to `tally`; true if it was a data line. */
function addLine(tally: UsageTally, line: string): boolean {
  if (!line.startsWith('data:')) return false;
  if (!line.includes('"usage"')) return true;
  if (line.length > MAX_LINE) {
    addFound(tally, line);
    return true;
  }
  try {
    tally.add(usageOf(JSON.parse(line.slice(5))));
  } catch {
    // not JSON: no usage
  }
  return true;
}

/**
 * LineBytes holds the bytes of the line (or body) read so far, one byte a byte: a string grown a chunk at a time is a
 * rope of V8 pieces, ~32 bytes of heap a byte when a peer sends one byte a chunk (a review: 34 MB for a 1 MiB line).
 * A line ends at a newline byte, which is never inside a UTF-8 character, so a line decodes whole.
 */
class LineBytes {
  private buffer = Buffer.allocUnsafe(FIRST_LINE_BYTES);
  private length = 0;

  add(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    if (this.length + bytes.byteLength > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes.byteLength));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    this.buffer.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  /** take is the text held, and lets it go. */
  take(): string {
    const text = this.buffer.toString('utf8', 0, this.length);
    this.length = 0;
    if (this.buffer.length > MAX_LINE) this.buffer = Buffer.allocUnsafe(FIRST_LINE_BYTES);
    return text;
  }
}

/**
 * UsageScanner counts usage in a body read chunk by chunk: server-sent events
 * line by line (UsageTally: each field's largest report), any other body
 * whole at its end (it is within the tool's output limit), or as far as it
 * got.
 */
export class UsageScanner {
  /** True for a stream of events (text/event-stream): usage arrives line by line, and counts as it comes (seen). */
  readonly events: boolean;
  /** The line (or, for a body that is no stream, the body) read so far: within the tool's output limit. */
  private readonly pending = new LineBytes();
  private readonly tally = new UsageTally();

  constructor(contentType: string) {
    this.events = contentType.toLowerCase().startsWith('text/event-stream');
  }

  /**
   * push reads one more chunk. Only the chunk is searched for line ends: the
   * line waiting was split again at every chunk, so a peer sending a long
   * line a byte at a time cost the loop ~400 ms a body (an attacker pass).
   */
  push(chunk: Uint8Array): void {
    if (!this.events) {
      this.pending.add(chunk);
      return;
    }
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      this.pending.add(chunk.subarray(start, end));
      addLine(this.tally, this.pending.take().trimEnd());
      start = end + 1;
    }
    this.pending.add(chunk.subarray(start));
  }

  /** seen is what the whole lines of an event stream have reported so far (0 for a body that is no stream). */
  seen(): number {
    return this.tally.tokens;
  }

  /** tokens is what the body has reported so far (a body cut short counts what came). */
  tokens(): number {
    if (!this.events) return tokensInBody(this.pending.take());
    addLine(this.tally, this.pending.take().trimEnd());
    return this.tally.tokens;
  }
}
