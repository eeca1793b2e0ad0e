/**
 * nestedPast: whether a parsed JSON value nests deeper than a bound, walked
 * without recursion. Readers of files an operator is handed (a decision log
 * to replay, a run's tape) ask it before anything recursive (the tape's
 * codec, JSON.stringify in the policy's argument matchers) touches a value:
 * an edited line nested 100,000 deep overflowed the stack, naming no line
 * (an attacker pass).
 */
export function nestedPast(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const inner of Array.isArray(v) ? v : Object.values(v)) if (inner !== null && typeof inner === 'object') stack.push([inner, depth + 1]);
  }
  return false;
}
