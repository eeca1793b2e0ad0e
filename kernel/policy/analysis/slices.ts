/**
 * Slices cut the space of requests as the engine's rule index does: by
 * syscall (each name a policy mentions, and every other name), then by tool
 * (each tool named literally by a rule of that syscall, and every other tool
 * or none). Each slice has its own, much smaller, set of rules that can
 * match there, so each question to the solver is about those alone.
 */
import { isLiteral } from '../glob.ts';
import type { PolicyDocument, PolicyRule } from '../schema.ts';
import { lit } from './smt.ts';
import { and, or, VARS, type RuleAt } from './model.ts';

export interface Slice {
  /** For the slice of other tools: the tools the syscall's rules name (a request with one of them is in another slice). */
  readonly named?: readonly string[];
  /** What the slice holds, for reports: `SYS_OPEN`, `SYS_EXEC tool http.get`, `other syscalls`. */
  readonly label: string;
  /** The formula that holds exactly for its requests. */
  readonly constraint: string;
  /** The syscall (undefined: every name no rule names). */
  readonly syscall: string | undefined;
  /** The tool (undefined: no split by tool; null: every tool no rule of the syscall names, or none). */
  readonly tool: string | null | undefined;
}

const namesSyscall = (r: PolicyRule): boolean => r.syscalls !== undefined && !r.syscalls.includes('*');
const literalTools = (r: PolicyRule): boolean => r.tools !== undefined && r.tools.every(isLiteral);

/** inSyscall: the rule can match a request of `syscall` (undefined: a name no rule names). */
function inSyscall(r: PolicyRule, syscall: string | undefined): boolean {
  return !namesSyscall(r) || (syscall !== undefined && r.syscalls!.includes(syscall));
}

/** toolNamed: in the slice of other tools, `tool` is one the syscall's rules name (so not in this slice). */
export function toolNamed(slice: Slice, tool: string): boolean {
  return slice.named?.includes(tool) === true;
}

/** inSlice: the rule can match some request of the slice. */
export function inSlice(r: PolicyRule, slice: Slice): boolean {
  if (!inSyscall(r, slice.syscall)) return false;
  if (slice.tool === undefined || !literalTools(r)) return true;
  return slice.tool !== null && r.tools!.includes(slice.tool);
}

/** rulesIn lists a document's rules that can match in the slice, in document order. */
export function rulesIn(document: PolicyDocument, slice: Slice): RuleAt[] {
  const out: RuleAt[] = [];
  document.rules.forEach((rule, order) => {
    if (inSlice(rule, slice)) out.push({ rule, order });
  });
  return out;
}

/** slicesOf cuts the requests of the documents' rules (one policy, or two compared) into slices. */
export function slicesOf(documents: readonly PolicyDocument[]): Slice[] {
  const rules = documents.flatMap((d) => d.rules);
  const names = [...new Set(rules.filter(namesSyscall).flatMap((r) => r.syscalls!))].toSorted();
  const syscalls: (string | undefined)[] = [...names, undefined];
  const out: Slice[] = [];
  for (const syscall of syscalls) {
    const base = syscall !== undefined ? `(= ${VARS.sys} ${lit(syscall)})` : `(not ${or(names.map((n) => `(= ${VARS.sys} ${lit(n)})`))})`;
    const label = syscall ?? 'other syscalls';
    const tools = [...new Set(rules.filter((r) => literalTools(r) && inSyscall(r, syscall)).flatMap((r) => r.tools!))].toSorted();
    if (tools.length === 0) {
      out.push({ label, constraint: base, syscall, tool: undefined });
      continue;
    }
    for (const tool of tools) out.push({ label: `${label} tool ${tool}`, constraint: and([base, VARS.toolP, `(= ${VARS.tool} ${lit(tool)})`]), syscall, tool });
    out.push({ label: `${label}, other tools`, named: tools, constraint: and([base, `(or (not ${VARS.toolP}) (not ${or(tools.map((t) => `(= ${VARS.tool} ${lit(t)})`))}))`]), syscall, tool: null });
  }
  return out;
}
