/**
 * Where a field of a YAML (or JSON-as-YAML) document is: the line and column
 * of a path, found in the document the parser built, and what an Ajv schema
 * error says of a field, so every configuration file the kernel reads (the
 * policy, an experiment) names file, line and field when it is wrong.
 */
import type { ErrorObject } from 'ajv';
import { isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';

export type PathKey = string | number;

/** fieldName writes a path as a field: `rules[2].args`. */
export function fieldName(path: readonly PathKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${key}` : key), '');
}

function pointerPath(pointer: string): PathKey[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** locate finds the source offset of `path` (or of the key `key` under it) in the document. */
export function locate(doc: Document, path: readonly PathKey[], key?: string): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = (depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true)) as Node | null | undefined;
    if (node === null || node === undefined) continue;
    if (key !== undefined && depth === path.length && isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && item.key.value === key);
      const keyNode = pair?.key as Node | undefined;
      if (keyNode?.range) return keyNode.range[0];
    }
    if (node.range) return node.range[0];
  }
  return 0;
}

/** schemaProblem says what an Ajv error means, and of which field (`key`: a field that should not be there). */
export function schemaProblem(error: ErrorObject): { path: PathKey[]; key?: string; problem: string } {
  const path = pointerPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') return { path: [...path, String(params.missingProperty)], problem: 'is required' };
  if (error.keyword === 'additionalProperties') {
    const key = String(params.additionalProperty);
    return { path: [...path, key], key, problem: 'is not a known field' };
  }
  if (error.keyword === 'enum') return { path, problem: `must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
  if (error.keyword === 'const') return { path, problem: `must be ${JSON.stringify(params.allowedValue)}` };
  return { path, problem: error.message ?? 'is invalid' };
}

/** firstAlias is the offset of the first alias (`*name`) in YAML `source`, or 0: where a file that expands too many aliases starts doing so. */
function firstAlias(source: string): number {
  const at = /(^|[\s[{,:-])\*[^\s,\]}]/m.exec(source);
  return at === null ? 0 : at.index + at[1]!.length;
}

/**
 * dataOf is the value of `doc` (parsed from `source`) with at most 100
 * aliases expanded; past them (a "billion laughs" file) yaml stops, and the
 * answer is where the source's first alias is and why.
 */
export function dataOf(doc: Document, source: string): { readonly data: unknown } | { readonly offset: number; readonly problem: string } {
  try {
    return { data: doc.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (err) {
    return { offset: firstAlias(source), problem: err instanceof Error ? err.message : String(err) };
  }
}

/** A key given twice in one map: where it is (`path`, the second's `offset`) and where it was first given. */
export interface DuplicateKey {
  readonly path: PathKey[];
  readonly offset: number;
  readonly first: number;
}

/**
 * duplicateKey finds a key given twice in one map of `doc` (if any), in one
 * pass. The parser's own check (`uniqueKeys`) compares each key with every
 * key before it: a policy of 40,000 keys in one map took 23 s to load, on
 * the event loop. Parse with `uniqueKeys: false` and call this instead.
 * Scalar keys are the same when their values are (as the parser's check has
 * it: 1 and "1" differ); other keys only when they are the same node.
 * Iterative, so a deeply nested document cannot overflow the stack.
 */
export function duplicateKey(doc: Document): DuplicateKey | undefined {
  interface At {
    readonly node: unknown;
    readonly parent: At | undefined;
    readonly key: PathKey | undefined;
  }
  const pathOf = (at: At): PathKey[] => {
    const path: PathKey[] = [];
    for (let p: At | undefined = at; p?.parent !== undefined; p = p.parent) path.push(p.key!);
    return path.toReversed();
  };
  const stack: At[] = [{ node: doc.contents, parent: undefined, key: undefined }];
  while (stack.length > 0) {
    const at = stack.pop()!;
    if (isMap(at.node)) {
      const seen = new Map<unknown, number>();
      const children: At[] = [];
      for (const pair of at.node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as Node | null;
        const key = isScalar(keyNode) ? keyNode.value : keyNode;
        const offset = keyNode?.range?.[0] ?? at.node.range?.[0] ?? 0;
        const name = String(key);
        const first = seen.get(key);
        if (first !== undefined) return { path: [...pathOf(at), name], offset, first };
        seen.set(key, offset);
        // A key that is itself a map or a sequence is checked too (the parser's own check caught `? {k: 1, k: 2}`: a review).
        if (isMap(keyNode) || isSeq(keyNode)) children.push({ node: keyNode, parent: at, key: name });
        children.push({ node: pair.value, parent: at, key: name });
      }
      // A map's keys are checked before what they hold; then depth first, in the document's order.
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    } else if (isSeq(at.node)) {
      for (let i = at.node.items.length - 1; i >= 0; i--) stack.push({ node: at.node.items[i], parent: at, key: i });
    }
  }
  return undefined;
}
