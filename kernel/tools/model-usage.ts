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

/** tokensIn returns the tokens a usage object reports (0 for none). */
export function tokensIn(usage: unknown): number {
  if (usage === null || typeof usage !== 'object') return 0;
  const u = usage as Usage;
  if (u.total_tokens !== undefined) return count(u.total_tokens);
  return count(u.prompt_tokens) + count(u.completion_tokens) + count(u.input_tokens) + count(u.output_tokens);
}

/** usageOf finds the usage of a parsed JSON response (top level, or Anthropic's message.usage). */
function usageOf(data: unknown): number {
  if (data === null || typeof data !== 'object') return 0;
  const d = data as { usage?: unknown; message?: { usage?: unknown } };
  return tokensIn(d.usage ?? d.message?.usage);
}

/** tokensInBody counts the usage of a whole (non-streamed) response body. */
export function tokensInBody(text: string): number {
  if (!text.includes('"usage"')) return 0;
  try {
    return usageOf(JSON.parse(text));
  } catch {
    return tokensInEvents(text);
  }
}

function tokensInEvents(text: string): number {
  let total = 0;
  for (const line of text.split('\n')) total += tokensInLine(line);
  return total;
}

function tokensInLine(line: string): number {
  if (!line.startsWith('data:') || line.length > MAX_LINE || !line.includes('"usage"')) return 0;
  try {
    return usageOf(JSON.parse(line.slice(5)));
  } catch {
    return 0;
  }
}

/**
 * UsageScanner counts usage in a body read chunk by chunk: server-sent events
 * line by line (OpenAI sends one usage at the end; Anthropic input tokens at
 * the start and cumulative output tokens at the end: the largest report of a
 * stream is taken, not their sum), any other body whole at its end (it is
 * within the tool's output limit).
 */
export class UsageScanner {
  private readonly decoder = new TextDecoder();
  /** True for a stream of events (text/event-stream): usage arrives line by line, and counts as it comes (seen). */
  readonly events: boolean;
  private pending = '';
  /** True while the rest of a line past MAX_LINE is passed over (it is no usage line). */
  private skipping = false;
  private best = 0;

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
      if (!this.skipping) this.best = Math.max(this.best, tokensInLine((this.pending + text.slice(start, end)).trimEnd()));
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
    return this.best;
  }

  /** tokens is what the body has reported so far (a body cut short counts what came). */
  tokens(): number {
    if (!this.events) return tokensInBody(this.pending);
    return this.skipping ? this.best : Math.max(this.best, tokensInLine(this.pending.trimEnd()));
  }
}
