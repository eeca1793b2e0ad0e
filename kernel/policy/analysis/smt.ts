/**
 * SMT-LIB text and the z3 solver (the `z3-solver` package: z3 compiled to
 * WebAssembly) that reads it. The analysis writes each question as SMT-LIB
 * 2.6 text over strings, regular expressions, integers and booleans, and
 * reads the answer (`sat` with the values asked for, `unsat`, or `unknown`
 * when the solver gave up within its time limit: never taken as a proof).
 */
import { init } from 'z3-solver';

/** lit writes `text` as an SMT-LIB string literal (code units; `"` doubled; anything else outside printable ASCII as \u{…}). */
export function lit(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) out += '""';
    else if (c >= 32 && c < 127 && c !== 92) out += text[i];
    else out += `\\u{${c.toString(16)}}`;
  }
  return `${out}"`;
}

/** Verdict is the solver's answer to one question: sat with the values asked for, unsat, or unknown (time limit). */
export type Verdict = { readonly status: 'sat'; readonly values: ReadonlyMap<string, string | number | boolean> } | { readonly status: 'unsat' } | { readonly status: 'unknown'; readonly why: string };

/** How many times a question the solver misread is asked before the error stands. */
const READ_ATTEMPTS = 3;

/** Time one question may take before the solver answers unknown. */
export const QUESTION_MS = 10_000;

/** SolverError: the solver could not be started or refused a question (a bug in the encoding, never an answer). */
export class SolverError extends Error {
  override readonly name = 'SolverError';
}

type Z3 = Awaited<ReturnType<typeof init>>['Z3'];
let loaded: Promise<Z3> | undefined;

/**
 * Solver asks z3 questions one at a time, each in a fresh context (the
 * WebAssembly build answers asynchronously; questions never overlap). A
 * context reused after `(reset)` was measured answering the same question
 * in 0.3 s to 5 s; a fresh one answers it the same way every time.
 */
export class Solver {
  private readonly z3: Z3;

  private constructor(z3: Z3) {
    this.z3 = z3;
  }

  /** questions counts what was asked, for the reports' footers and the benchmarks. */
  questions = 0;

  static async open(): Promise<Solver> {
    loaded ??= init().then((m) => m.Z3);
    const z3 = await loaded;
    return new Solver(z3);
  }

  /**
   * check asserts `script` (declarations and assertions) in a fresh state,
   * asks whether it is satisfiable, and on sat reads the values of `read`.
   */
  async check(script: string, read: readonly string[]): Promise<Verdict> {
    this.questions++;
    // The WebAssembly build was seen misreading a question now and then (a symbol it had just declared
    // 'unknown', a '(' where none was): such an answer is an error, never an answer, and the question is asked again.
    let last: SolverError | undefined;
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      try {
        return await this.once(script, read);
      } catch (err) {
        if (!(err instanceof SolverError)) throw err;
        last = err;
      }
    }
    throw last!;
  }

  private async once(script: string, read: readonly string[]): Promise<Verdict> {
    const ctx = this.z3.mk_context_rc(this.z3.mk_config());
    try {
      // encoding bmp: a character is one UTF-16 code unit (0–FFFF), as in the engine's strings. The older
      // arithmetic solver (2) was measured answering the string lengths of these questions far sooner
      // (a path with \${agent} against a deny's glob: unsat in 0.3 s, where the default gave up after 10 s).
      const head = `(set-option :encoding bmp)(set-option :smt.arith.solver 2)(set-option :timeout ${QUESTION_MS})\n`;
      const answer = (await this.z3.eval_smtlib2_string(ctx, `${head}${script}\n(check-sat)`)).trim();
      if (answer === 'unsat') return { status: 'unsat' };
      if (answer === 'unknown') {
        const why = (await this.z3.eval_smtlib2_string(ctx, '(get-info :reason-unknown)')).trim();
        return { status: 'unknown', why };
      }
      if (answer !== 'sat') throw new SolverError(`z3 did not take the question: ${answer.slice(0, 400)}`);
      if (read.length === 0) return { status: 'sat', values: new Map() };
      const text = await this.z3.eval_smtlib2_string(ctx, `(get-value (${read.join(' ')}))`);
      return { status: 'sat', values: readValues(text) };
    } finally {
      this.z3.del_context(ctx);
    }
  }
}

/** readValues parses z3's `((name value) …)` answer to get-value: strings, integers (negative as `(- n)`) and booleans. */
export function readValues(text: string): Map<string, string | number | boolean> {
  const out = new Map<string, string | number | boolean>();
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const expect = (c: string) => {
    skip();
    if (text[i] !== c) throw new SolverError(`z3 answered values in a form not understood at ${i}: ${text.slice(i, i + 80)}`);
    i++;
  };
  const atom = (): string => {
    skip();
    const start = i;
    while (i < text.length && !/[\s()]/.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  const value = (): string | number | boolean => {
    skip();
    if (text[i] === '"') {
      i++;
      let s = '';
      for (;;) {
        if (i >= text.length) throw new SolverError('z3 answered an unterminated string');
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') {
            s += '"';
            i += 2;
            continue;
          }
          i++;
          return s;
        }
        const esc = /^\\u\{([0-9a-fA-F]{1,5})\}|^\\u([0-9a-fA-F]{4})/.exec(text.slice(i, i + 9));
        if (esc !== null) {
          s += String.fromCharCode(Number.parseInt(esc[1] ?? esc[2]!, 16));
          i += esc[0].length;
          continue;
        }
        s += c;
        i++;
      }
    }
    if (text[i] === '(') {
      i++;
      const op = atom();
      const n = Number(atom());
      expect(')');
      if (op !== '-' || !Number.isFinite(n)) throw new SolverError(`z3 answered a value not understood: (${op} …)`);
      return -n;
    }
    const a = atom();
    if (a === 'true' || a === 'false') return a === 'true';
    const n = Number(a);
    if (!Number.isFinite(n)) throw new SolverError(`z3 answered a value not understood: ${a}`);
    return n;
  };
  expect('(');
  for (;;) {
    skip();
    if (text[i] === ')') break;
    expect('(');
    const name = atom();
    out.set(name, value());
    expect(')');
  }
  return out;
}
