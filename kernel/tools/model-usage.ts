/**
 * Token usage in model responses that reach an agent through http.fetch from
 * an endpoint the configuration declares as a model endpoint: the `usage`
 * object of an OpenAI-style (`total_tokens`, or `prompt_tokens` +
 * `completion_tokens`) or Anthropic-style (`input_tokens` + `output_tokens`)
 * response, as one JSON body or in server-sent events (each `data:` line
 * carrying `"usage"` is parsed; lines are cut at MAX_LINE). The tokens count
 * against the agent's token budgets as llm.chat's do.
 */

/** The longest event line looked at; longer ones are skipped, their usage uncounted. */
const MAX_LINE = 64 * 1024;

type Usage = Record<string, unknown>;

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/** The fields a usage object reports tokens in. */
const FIELDS = ['total_tokens', 'prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens'] as const;

/**
 * UsageTally reads the usage objects of one response: each field's largest report, then their tokens. A stream
 * reports usage more than once: Anthropic its input tokens at the start and its output tokens, cumulative, at the end;
 * some servers the running total at every chunk. Neither the largest report (which left Anthropic's output uncounted)
 * nor the sum of reports (which counted a running total many times; found by a review) is the answer.
 */
class UsageTally {
  private readonly most: Record<(typeof FIELDS)[number], number> = { total_tokens: 0, prompt_tokens: 0, completion_tokens: 0, input_tokens: 0, output_tokens: 0 };

  add(usage: unknown): void {
    if (usage === null || typeof usage !== 'object') return;
    const u = usage as Usage;
    for (const field of FIELDS) this.most[field] = Math.max(this.most[field], count(u[field]));
  }

  /** tokens is the total reported, or the sum of its parts where that is more. */
  get tokens(): number {
    const m = this.most;
    return Math.max(m.total_tokens, m.prompt_tokens + m.completion_tokens + m.input_tokens + m.output_tokens);
  }
}

/** usageOf finds the usage object of a parsed JSON response (top level, or Anthropic's message.usage). */
function usageOf(data: unknown): unknown {
  if (data === null || typeof data !== 'object') return undefined;
  const d = data as { usage?: unknown; message?: { usage?: unknown } };
  return d.usage ?? d.message?.usage;
}

/** tokensIn returns the tokens a usage object reports (0 for none). */
export function tokensIn(usage: unknown): number {
  const tally = new UsageTally();
  tally.add(usage);
  return tally.tokens;
}

/** The longest usage object read out of a JSON body cut short. */
const MAX_USAGE_CHARS = 4096;

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

/** tokensInBody counts the usage of a whole response body: JSON, server-sent events, or JSON cut short (its usage read from the text). */
export function tokensInBody(text: string): number {
  if (!text.includes('"usage"')) return 0;
  try {
    return tokensIn(usageOf(JSON.parse(text)));
  } catch {
    const events = tokensInEvents(text);
    if (events > 0) return events;
    // A body cut before its end (the agent closed it, the limit, the time) still said what it used where it got to.
    const tally = new UsageTally();
    for (let at = text.indexOf('"usage"'); at !== -1; at = text.indexOf('"usage"', at + 7)) {
      const object = objectAt(text, text.indexOf('{', at));
      if (object === undefined) continue;
      try {
        tally.add(JSON.parse(object));
      } catch {
        // not a usage object after all
      }
    }
    return tally.tokens;
  }
}

function tokensInEvents(text: string): number {
  const tally = new UsageTally();
  for (const line of text.split('\n')) addLine(tally, line.trimEnd());
  return tally.tokens;
}

/** addLine adds the usage of one event line (a `data:` line carrying "usage") to `tally`. */
function addLine(tally: UsageTally, line: string): void {
  if (!line.startsWith('data:') || line.length > MAX_LINE || !line.includes('"usage"')) return;
  try {
    tally.add(usageOf(JSON.parse(line.slice(5))));
  } catch {
    // not JSON: no usage
  }
}

/**
 * UsageScanner counts usage in a body read chunk by chunk: server-sent events
 * line by line (UsageTally: each field's largest report), any other body
 * whole at its end (it is within the tool's output limit), or as far as it
 * got.
 */
export class UsageScanner {
  private readonly decoder = new TextDecoder();
  /** True for a stream of events (text/event-stream): usage arrives line by line, and counts as it comes (seen). */
  readonly events: boolean;
  private pending = '';
  /** True while the rest of a line past MAX_LINE is passed over (it is no usage line). */
  private skipping = false;
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
    const text = this.decoder.decode(chunk, { stream: true });
    if (!this.events) {
      this.pending += text;
      return;
    }
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      if (!this.skipping) addLine(this.tally, (this.pending + text.slice(start, end)).trimEnd());
      this.pending = '';
      this.skipping = false;
      start = end + 1;
    }
    if (this.skipping) return;
    this.pending += text.slice(start);
    if (this.pending.length > MAX_LINE) {
      this.pending = '';
      this.skipping = true;
    }
  }

  /** seen is what the whole lines of an event stream have reported so far (0 for a body that is no stream). */
  seen(): number {
    return this.tally.tokens;
  }

  /** tokens is what the body has reported so far (a body cut short counts what came). */
  tokens(): number {
    if (!this.events) return tokensInBody(this.pending);
    if (!this.skipping) addLine(this.tally, this.pending.trimEnd());
    this.pending = '';
    return this.tally.tokens;
  }
}
