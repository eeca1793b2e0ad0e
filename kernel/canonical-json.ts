/**
 * canonicalJson serialises plain data with object keys sorted, so equal data
 * always gives equal text (and equal hashes), and different data different
 * text. Undefined properties are left out. A number JSON cannot hold (NaN,
 * ±Infinity) is written as its name, not JSON's `null`: the digest that binds
 * an approval to its request was the same for `null` and `1e999` (an
 * attacker pass; agentd now also refuses such bodies).
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).toSorted()) {
    const v = record[key];
    if (v !== undefined) parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}
