/**
 * FileDecisionLog seals each record straight into its write buffer (chain.ts
 * sealInto) and keeps a frozen labels object's plain copy in `req`
 * (policy-input.ts labelsKept): its bytes must be what the general
 * serialiser, body() and seal() over the request's own labels, makes of the
 * same records, in one file or across segments, and verify.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import { body, GENESIS, recordOf, seal, toChainFields } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { listSegments } from '../../kernel/recorder/segments.ts';
import { verifyLogFile } from '../../kernel/recorder/verify-file.ts';
import type { DecisionInput } from '../../syscalls/records.ts';
import { scratch } from './helpers.ts';

const dir = scratch();
afterAll(() => dir.remove());

/** Text of any UTF-16 code units, lone surrogates, quotes, backslashes and control characters included. */
const text = fc.string({ unit: 'binary', maxLength: 40 });
const key = fc.oneof(text, fc.constantFrom('__proto__', '0', '17', 'toString', 'team'));

/** Labels as the kernel makes them (frozen, no prototype), frozen plain, or plain. */
const labels = fc.tuple(fc.dictionary(key, text, { maxKeys: 4 }), fc.constantFrom('kernel', 'frozen', 'plain')).map(([given, kind]) => {
  const made: Record<string, string> = kind === 'plain' ? {} : Object.create(null);
  for (const [k, v] of Object.entries(given)) Object.defineProperty(made, k, { value: v, enumerable: true, writable: true, configurable: true });
  return kind === 'plain' ? made : Object.freeze(kind === 'frozen' ? Object.assign(Object.create(Object.prototype), made) : made);
});

const argValue = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 80 }), fc.array(text, { maxLength: 3 }), fc.dictionary(text, fc.integer(), { maxKeys: 3 }));
const args = fc.dictionary(key, argValue, { maxKeys: 4 });
const maybe = <T,>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const syscall: fc.Arbitrary<DecisionInput> = fc
  .record({
    pid: fc.nat(1000),
    agentId: text,
    syscall: fc.oneof(fc.constantFrom('SYS_READ', 'SYS_WRITE', 'SYS_OPEN'), text),
    access: fc.constantFrom('read', 'write', 'none') as fc.Arbitrary<'read' | 'write' | 'none'>,
    effect: fc.constantFrom('allow', 'deny', 'ask') as fc.Arbitrary<'allow' | 'deny'>,
    rule: text,
    reason: text,
    policyVersion: maybe(text),
    path: maybe(text),
    args: maybe(args),
    asked: maybe(fc.record({ labels: maybe(labels), caps: fc.array(text, { maxLength: 3 }), trust: fc.integer({ min: 0, max: 1000 }), tokens: fc.nat(), tool: maybe(text), child: fc.boolean() })),
  })
  .map(({ asked, ...r }) => {
    const request: PolicyRequest | undefined =
      asked === undefined
        ? undefined
        : { agentId: r.agentId, syscall: r.syscall, access: r.access, path: r.path, labels: asked.labels, capabilities: new Set(asked.caps), lineage: asked.child ? 'child' : 'root', tool: asked.tool, trust: asked.trust, tokens: asked.tokens, args: r.args ?? {} };
    return { type: 'syscall' as const, ...r, asked: request };
  });
const outcome: fc.Arbitrary<DecisionInput> = fc.record({ pid: fc.nat(1000), agentId: text, syscall: text, of: fc.nat(), errno: maybe(fc.constantFrom('EIO', 'ENOENT')), message: maybe(text), result: fc.oneof(fc.integer(), text, fc.uint8Array({ maxLength: 40 })) }).map((r) => ({ type: 'outcome' as const, ...r }));
const lifecycle: fc.Arbitrary<DecisionInput> = fc.record({ type: fc.constantFrom('spawn', 'exit', 'signal') as fc.Arbitrary<'spawn' | 'exit' | 'signal'>, pid: fc.nat(1000), agentId: text, detail: text, policyVersion: maybe(text) });
/** A record, and whether an action then asks for it to be written (beforeAction). */
const step = fc.tuple(fc.oneof({ weight: 4, arbitrary: syscall }, outcome, lifecycle), fc.boolean());

/** expectedLine is the general path: body() (JSON.stringify of each field) and seal(), over the request's own labels object. */
function expectedLine(entry: DecisionInput, seq: number, time: number, prev: string): { line: string; hash: string } {
  const fields = toChainFields(entry);
  if (entry.type === 'syscall' && fields.req?.labels !== undefined) fields.req = { ...fields.req, labels: entry.asked!.labels };
  return seal(body(recordOf(fields, seq, time, prev) as unknown as Record<string, unknown>));
}

let run = 0;
describe('FileDecisionLog bytes', () => {
  it('are the general serialiser’s lines for any records, in one file or in segments, and verify', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), fc.constantFrom(0, 600, 2000), (steps, segmentBytes) => {
        const path = `${dir.dir}/log-${++run}.jsonl`;
        let now = 1_765_000_000_000;
        const log = new FileDecisionLog(path, { clock: () => now++, segmentBytes });
        let expected = '';
        let prev = GENESIS;
        let time = 1_765_000_000_000;
        try {
          for (const [entry, act] of steps) {
            const seq = log.record(entry);
            const want = expectedLine(entry, seq, time++, prev);
            prev = want.hash;
            expected += want.line;
            expect(log.head).toBe(want.hash);
            if (act) log.beforeAction(seq);
          }
          log.flush();
          expect(log.count).toBe(steps.length);
        } finally {
          log.close();
        }
        const segments = listSegments(path);
        const written = Buffer.concat(segments.map((s) => readFileSync(s.path)));
        expect(written.equals(Buffer.from(expected, 'utf8'))).toBe(true);
        expect(log.bytes).toBe(written.length);
        // A segment never passes its size, unless it holds one record larger than that.
        for (const s of segments) {
          const bytes = readFileSync(s.path);
          if (segmentBytes > 0 && bytes.length > segmentBytes) expect(bytes.indexOf(10)).toBe(bytes.length - 1);
        }
        expect(verifyLogFile(path)).toMatchObject({ ok: true, records: steps.length, head: prev });
      }),
      { numRuns: 150 },
    );
  });
});
