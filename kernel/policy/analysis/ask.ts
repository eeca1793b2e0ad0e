/**
 * ask puts one question to the solver and confirms its answer with the
 * engine: a model's witness stands only once `confirm` (the real engine)
 * agrees. A witness the engine refutes can only come from what the model
 * leaves as a free choice (a regex it cannot write, several time zones, an
 * argument past MATCH_LIMIT); that choice is ruled out and the solver asked
 * again, a few times, before the answer is `unknown` (never a proof).
 * `extra` names terms whose values the caller wants too.
 */
import { RequestModel } from './model.ts';
import type { Solver } from './smt.ts';
import { witnessOf, type Witness } from './witness.ts';

/** Answer: a confirmed witness, none can exist (unsat), or no answer (the solver gave up, or only refuted witnesses came). */
export type Answer =
  | { readonly status: 'witness'; readonly witness: Witness; readonly values: ReadonlyMap<string, string | number | boolean> }
  | { readonly status: 'none' }
  | { readonly status: 'unknown'; readonly why: string };

/** without is a request less one field. */
const without =
  <K extends keyof Witness['request']>(key: K) =>
  (r: Witness['request']): Witness['request'] => {
    const { [key]: _gone, ...rest } = r;
    return rest as Witness['request'];
  };

/**
 * tidy makes a witness read like a request someone would send: each field
 * the solver set to an odd value it did not need (a trust of 0, a label, a
 * capability, a child process, tokens) goes back to its usual value, one at
 * a time, as long as the engine still confirms it.
 */
function tidy(witness: Witness, confirm: (w: Witness) => boolean): Witness {
  let best = witness;
  const attempt = (change: (r: Witness['request']) => Witness['request']) => {
    const next = { ...best, request: change(best.request) };
    if (confirm(next)) best = next;
  };
  attempt(without('trust'));
  attempt(without('tokens'));
  attempt(without('lineage'));
  attempt(without('flows'));
  if (!best.request.agent.startsWith('agent-')) attempt((r) => ({ ...r, agent: 'agent-1', ...(r.path !== undefined ? { path: r.path.replaceAll(`/${r.agent}/`, '/agent-1/') } : {}) }));
  for (const key of Object.keys(best.request.labels ?? {})) attempt((r) => ({ ...r, labels: Object.fromEntries(Object.entries(r.labels ?? {}).filter(([k]) => k !== key)) }));
  for (const cap of best.request.capabilities ?? []) attempt((r) => ({ ...r, capabilities: (r.capabilities ?? []).filter((c) => c !== cap) }));
  // Odd characters the solver chose (a NUL, a character from far in Unicode) become readable ones where the engine agrees.
  if (odd(best.request.path)) attempt((r) => ({ ...r, path: plain(r.path!) }));
  if (odd(best.request.tool)) attempt((r) => ({ ...r, tool: plain(r.tool!) }));
  for (const [key, value] of Object.entries(best.request.labels ?? {})) if (odd(value)) attempt((r) => ({ ...r, labels: { ...r.labels, [key]: plain(value) } }));
  for (const [key, value] of Object.entries(best.request.args ?? {})) if (typeof value === 'string' && odd(value)) attempt((r) => ({ ...r, args: { ...r.args, [key]: plain(value) } }));
  if (best.counts !== undefined) {
    const { counts: _c, ...rest } = best;
    if (confirm(rest)) best = rest;
  }
  return best;
}

/** plain replaces what is not printable ASCII. */
const plain = (text: string): string => text.replace(/[^\x20-\x7e]/g, 'x');

/** odd: the text has characters that are not printable ASCII. */
const odd = (text: string | undefined): boolean => text !== undefined && plain(text) !== text;

/** Confirm: the engine's judgement of a witness read off the model with `values` (tidying a witness asks again, with the same values). */
export type Confirm = (w: Witness, values: ReadonlyMap<string, string | number | boolean>) => boolean;

/** How many refuted witnesses one question may get before it is left unanswered. */
const RETRIES = 4;

/**
 * ask builds the question with `build` (on a fresh model: it returns the
 * formulas to assert, in terms the model then declares), and answers with a
 * witness `confirm` accepts. `model` receives the approximations made.
 */
export async function ask(solver: Solver, build: (model: RequestModel) => string, confirm: Confirm, approximations?: Map<string, string>, extra: readonly string[] = []): Promise<Answer> {
  const model = new RequestModel();
  const body = build(model);
  for (const [k, v] of model.approximations) approximations?.set(k, v);
  const reads = [...model.reads(), ...extra];
  const question = `${model.declarations()}\n${body}`;
  const blocked: string[] = [];
  // First among requests whose arguments are all within MATCH_LIMIT (the free choice of "longer" costs the solver
  // seconds on a question it answers in milliseconds without it); only a "none" there needs the whole question.
  const longer = model.longerChoices().map((o) => `(assert (not ${o}))`);
  const phases = longer.length > 0 ? [longer.join('\n'), ''] : [''];
  for (const narrowed of phases) {
    const whole = narrowed === '';
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      const verdict = await solver.check(`${question}\n${narrowed}\n${blocked.join('\n')}`, reads);
      if (verdict.status !== 'sat' && !whole) break;
      if (verdict.status === 'unsat') return blocked.length === 0 ? { status: 'none' } : { status: 'unknown', why: `the only witnesses the solver found depend on what the model over-approximates (${[...model.approximations.keys()].join('; ')}), and the engine refuted each` };
      if (verdict.status === 'unknown') return { status: 'unknown', why: `the solver gave up (${verdict.why})` };
      const values = verdict.values;
      const witness = witnessOf(model, values);
      if (witness !== undefined && confirm(witness, values)) return { status: 'witness', witness: tidy(witness, (w) => confirm(w, values)), values };
      const open = model.openAssignment(values);
      if (open === 'true') {
        if (!whole) break;
        return { status: 'unknown', why: `the engine refuted the solver's witness ${JSON.stringify(witness ?? null)} (an analysis bug: please report it)` };
      }
      blocked.push(`(assert (not ${open}))`);
    }
  }
  return { status: 'unknown', why: `the engine refuted ${RETRIES + 1} witnesses that depend on what the model over-approximates (${[...model.approximations.keys()].join('; ')})` };
}
