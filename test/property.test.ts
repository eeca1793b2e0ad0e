/**
 * Property: whatever arguments arrive, the dispatcher answers `{ v }` or
 * `{ errno, message }` with a known errno (or `{ later }` that settles to one)
 * and never throws — called directly in ring 0, and through a real isolate
 * with raw `syscall(nr, ...args)`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixedApprover } from '../kernel/approvals.ts';
import { Identity } from '../kernel/capabilities.ts';
import { FdTable } from '../kernel/fd-table.ts';
import { Kernel } from '../kernel/kernel.ts';
import { defaultPolicy } from '../kernel/policy/default.ts';
import { parsePolicy, type LoadedPolicy } from '../kernel/policy/load.ts';
import { contextFor } from '../kernel/process-context.ts';
import { Lineage } from '../kernel/lineage.ts';
import { Process } from '../kernel/process.ts';
import type { SyscallContext } from '../syscalls/context.ts';
import { dispatch, type Reply } from '../syscalls/dispatch.ts';
import { ERRNO } from '../abi/errno.ts';
import { SYSCALL_NUMBERS, SYSCALL_TABLE } from '../syscalls/table.ts';
import { runAgent } from './helpers.ts';

const POLICIES: Record<string, LoadedPolicy> = {
  default: defaultPolicy(),
  allowAll: parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml'),
  askAll: parsePolicy('version: 1\nrules:\n  - id: ask-all\n    effect: require_approval\n', 'ask-all.yaml'),
};
const MANIFEST = { capabilities: ['tool:*'] };
const NUMBERS = SYSCALL_TABLE.map((r) => r.nr);
const UNKNOWN_NUMBERS = [-1, Math.max(...NUMBERS) + 1, 99, 1.5, NaN, Infinity, 2 ** 32];

/**
 * ROWS are the rows fuzzed. SYS_PIPE is left out: a process reading the empty
 * pipe it also writes blocks for ever, which is correct and would hang the run.
 */
const ROWS = SYSCALL_TABLE.filter((r) => r.name !== 'SYS_PIPE');

/**
 * kernelFor is a kernel under `policy` whose approvals are granted at once, so
 * `{ later }` settles quickly; children spawned from fuzzed files are bounded in time.
 */
const kernelFor = (policy: LoadedPolicy) =>
  new Kernel({ policy, approver: fixedApprover(true), limits: { cpuMs: 2000, wallMs: 5000 }, stdout: () => undefined, stderr: () => undefined });

/** Arguments a schema may accept, so the handlers behind the checks run too. */
const PLAUSIBLE: unknown[] = ['mem', 'mem/working', 'mem/working/f', '.', 'policy/VERSION', 'state/checkpoints', 'r', 'w', 'a+', 'r+', 'SYS_OPEN', 'SIGTERM', 'ls',
  0, 1, 2, 3, 4, 5, 16, 64, true, false, 'hello', { path: 'mem' }, ['mem/working/f', 'r']];

/** Values chosen to hurt: size caps, NUL, odd numbers, deep or wide data, typed arrays, prototypes, shared memory. */
function nastyValues(): unknown[] {
  let deep: unknown = 1;
  for (let i = 0; i < 20; i++) deep = { d: [deep] };
  return ['', '\0', 'mem/\0x', 'x'.repeat(70_000), `mem/${'y'.repeat(5000)}`, '../../etc/passwd', '/agent/other/x', '/', '%2e%2e/x', '\ud800', '\u{1F600}',
    -1, -0, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53 + 2, Number.MAX_VALUE, Number.MIN_VALUE, 1 << 20, (1 << 20) + 1, 2n ** 70n,
    null, undefined, [], Array.from({ length: 300 }, () => 0), deep, JSON.parse('{"__proto__": {"polluted": 1}}'), Object.create(null),
    new Uint8Array(0), new Uint8Array([0, 255]), new Uint8Array((1 << 20) + 1), new Uint8Array(new SharedArrayBuffer(4)), new Int32Array(2), new Float64Array([NaN]),
    new ArrayBuffer(8), new DataView(new ArrayBuffer(2)), new Date(0), /re/g, new Map([[1, 2]]), new Set([1]), Symbol('s'), () => 1];
}

const anything = fc.anything({ maxDepth: 3, withTypedArray: true, withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, stringUnit: 'binary' });
const argFrom = (nasty: readonly unknown[]) =>
  fc.oneof({ arbitrary: fc.constantFrom(...PLAUSIBLE), weight: 3 }, { arbitrary: fc.constantFrom(...nasty), weight: 2 }, { arbitrary: anything, weight: 2 });
const nrArb = fc.oneof({ arbitrary: fc.constantFrom(...NUMBERS), weight: 5 }, { arbitrary: fc.constantFrom(...UNKNOWN_NUMBERS), weight: 1 });

/** Likely-valid values by argument name, so most calls get past decoding into the handlers. */
const BY_NAME: Record<string, fc.Arbitrary<unknown>> = {
  fd: fc.integer({ min: 0, max: 8 }),
  length: fc.integer({ min: 0, max: 100 }),
  data: fc.oneof(fc.string(), fc.uint8Array({ maxLength: 64 })),
  path: fc.constantFrom('mem', 'mem/working/f', 'mem/working/g', 'mem/working/d/e', '.', 'ipc', 'policy/VERSION', 'state/checkpoints/x', '/agent/prop/mem', '../x'),
  flags: fc.constantFrom('r', 'r+', 'w', 'w+', 'a', 'a+'),
  recursive: fc.boolean(),
  code: fc.integer({ min: 0, max: 255 }),
  tool: fc.constantFrom('ls', 'http.fetch', ''),
  args: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined)),
  pid: fc.integer({ min: 1, max: 10 }),
  signal: fc.constantFrom('SIGTERM', 'SIGUSR1', 'BOGUS'),
  syscall: fc.constantFrom(...SYSCALL_TABLE.map((r) => r.name), 'SYS_NOPE'),
  action: fc.constantFrom('default', 'ignore', 'handle'),
  how: fc.constantFrom('block', 'unblock', 'set'),
  signals: fc.array(fc.constantFrom('SIGINT', 'SIGTERM', 'SIGKILL', 'SIGSTOP', 'NOPE'), { maxLength: 3 }),
  program: fc.constantFrom('mem/working/f', 'mem/working/g', 'nope.js'),
  argv: fc.array(fc.string(), { maxLength: 3 }),
  options: fc.constantFrom(undefined, {}, { capabilities: [] }, { capabilities: ['tool:*'] }, { stdout: 1 }, { stdin: 0, stderr: 2 }),
};

/** vectorArb: a syscall number and its arguments — well formed with some nasty values mixed in, or entirely random. */
const vectorArb = (nasty: readonly unknown[], rows: readonly (typeof SYSCALL_TABLE)[number][]) =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(...rows).chain((row) =>
        fc.tuple(fc.constant<unknown>(row.nr), fc.tuple(...row.argNames.map((name) => fc.oneof({ arbitrary: BY_NAME[name] ?? anything, weight: 5 }, { arbitrary: fc.constantFrom(...nasty), weight: 1 })))),
      ),
    },
    { weight: 2, arbitrary: fc.tuple(nrArb.filter((nr) => rows.some((r) => r.nr === nr) || !NUMBERS.includes(nr)), fc.array(argFrom(nasty), { maxLength: 4 })) },
  );

/** checkReply asserts `reply` is `{ v }` or `{ errno, message }` with a known errno; a `{ later }` is awaited first. */
async function checkReply(reply: Reply): Promise<string> {
  if ('later' in reply) return checkReply(await reply.later);
  const keys = Object.keys(reply).toSorted();
  if (keys.length === 1 && keys[0] === 'v') return 'v';
  expect(keys).toEqual(['errno', 'message']);
  const fault = reply as { errno: unknown; message: unknown };
  expect(Object.keys(ERRNO)).toContain(fault.errno);
  expect(typeof fault.message).toBe('string');
  return fault.errno as string;
}

/**
 * directContext builds a process's SyscallContext the way kernel.spawn does —
 * contextFor over a real kernel, a real Process, its agent's VFS tree and a
 * real fd table — except that exit and violation are only noted in `seen`.
 */
function directContext(policy: LoadedPolicy, seen: Map<string, number>): { kernel: Kernel; ctx: SyscallContext } {
  const kernel = kernelFor(policy);
  const agentId = 'prop';
  const vfs = kernel.vfs(agentId);
  const limits = { heapMib: 64, openFiles: 64 };
  const proc = new Process(999_999, 0, new Lineage(999_999, agentId, limits, Date.now()), 'property', limits);
  const files = new FdTable(vfs, { stdout: FdTable.sink(() => undefined), stderr: FdTable.sink(() => undefined), limit: 64 });
  proc.fds = files;
  const ctx: SyscallContext = {
    ...contextFor(kernel, proc, new Identity({ id: agentId, ...MANIFEST }), vfs, files),
    exit: (code) => void seen.set(`exit ${code}`, 1),
    violation: (signal) => void seen.set(`violation ${signal}`, 1),
  };
  return { kernel, ctx };
}

describe('dispatch, called directly', () => {
  it('answers every syscall number and argument list with { v } or a known errno, never a throw', async () => {
    const seen = new Map<string, number>();
    const contexts = Object.values(POLICIES).map((policy) => directContext(policy, seen));
    await fc.assert(
      fc.asyncProperty(fc.nat(contexts.length - 1), vectorArb(nastyValues(), ROWS), async (which, [nr, args]) => {
        const { kernel, ctx } = contexts[which]!;
        let reply: Reply;
        // A call that waits (a timer of up to 24 days, a blocked pipe) is cancelled after a moment: its answer must still be a known errno.
        const call = new AbortController();
        try {
          reply = dispatch(kernel.services, ctx, nr, args, { cancel: call.signal });
        } catch (err) {
          throw new Error(`dispatch threw for ${String(nr)}: ${String(err)}`, { cause: err });
        }
        const stop = setTimeout(() => call.abort(), 50);
        const outcome = await checkReply(reply);
        clearTimeout(stop);
        seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
      }),
      { numRuns: 300 },
    );
    // The run reached handlers, not only the argument checks.
    expect(seen.get('v')).toBeGreaterThan(30);
    expect(seen.get('EINVAL')).toBeGreaterThan(0);
    expect(seen.get('ENOSYS')).toBeGreaterThan(0);
    for (const { kernel } of contexts) await kernel.shutdown();
  });

  // KNOWN BUG (syscalls/dispatch.ts, unknown-number branch): `String(nr)` runs
  // outside the try, so an nr that cannot be turned into a string makes
  // dispatch throw instead of answering ENOSYS. Not reachable from an isolate
  // (the copy gives the host a plain object). Turn into it() once fixed.
  it('an nr whose String() throws still gets ENOSYS', () => {
    const { kernel, ctx } = directContext(POLICIES.default!, new Map());
    expect(dispatch(kernel.services, ctx, Object.create(null), [], { cancel: new AbortController().signal })).toMatchObject({ errno: 'ENOSYS' });
  });
});

/** toSource writes `value` as a JavaScript expression that rebuilds it inside the isolate. */
function toSource(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  if (typeof value === 'symbol') return `Symbol(${JSON.stringify(value.description ?? '')})`;
  if (typeof value === 'function') return '() => 1';
  if (Array.isArray(value)) return `[${value.map(toSource).join(', ')}]`;
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (value instanceof RegExp) return String(value);
  if (value instanceof Map) return `new Map(${toSource([...value])})`;
  if (value instanceof Set) return `new Set(${toSource([...value])})`;
  if (value instanceof DataView) return `new DataView(new ArrayBuffer(${value.byteLength}))`;
  if (value instanceof ArrayBuffer) return `new ArrayBuffer(${value.byteLength})`;
  if (ArrayBuffer.isView(value)) {
    const typed = value as unknown as { buffer: ArrayBufferLike; length: number; constructor: { name: string } } & Iterable<unknown>;
    if (typed.buffer instanceof SharedArrayBuffer) return `new ${typed.constructor.name}(new SharedArrayBuffer(${typed.length}))`;
    if (typed.length > 64) return `new ${typed.constructor.name}(${typed.length})`;
    return `new ${typed.constructor.name}([${[...typed].map(toSource).join(', ')}])`;
  }
  const body = `{ ${Object.entries(value as object).map(([k, v]) => `[${JSON.stringify(k)}]: ${toSource(v)}`).join(', ')} }`;
  return Object.getPrototypeOf(value) === null ? `Object.setPrototypeOf(${body}, null)` : body;
}

/** The agent: runs every vector with the raw syscall and reports how each was answered. */
function batchAgent(vectors: readonly (readonly [unknown, readonly unknown[]])[]): string {
  const list = vectors.map(([nr, args]) => `[${toSource(nr)}, [${args.map(toSource).join(', ')}]]`).join(',\n');
  return `const ERRNOS = new Set(${JSON.stringify(Object.keys(ERRNO))});
const vectors = [\n${list}\n];
const counts = { v: 0, errno: 0, uncloneable: 0 }; const bad = [];
for (const [i, [nr, args]] of vectors.entries()) {
  try {
    const r = syscall(nr, ...args);
    const keys = r !== null && typeof r === 'object' ? Object.keys(r).sort().join() : typeof r;
    if (keys === 'v') counts.v++;
    else if (keys === 'errno,message' && ERRNOS.has(r.errno) && typeof r.message === 'string') counts.errno++;
    else bad.push([i, keys]);
  } catch (e) {
    if (e instanceof TypeError && / could not be cloned\\.$/.test(e.message)) counts.uncloneable++;
    else bad.push([i, String(e)]);
  }
}
console.log('\\nREPORT ' + JSON.stringify({ counts, bad }));`;
}

/** longTimer: a SYS_TIMER that would block its caller more than 100 ms. */
const longTimer = (nr: unknown, args: readonly unknown[]): boolean => nr === SYSCALL_NUMBERS.SYS_TIMER && typeof args[0] === 'number' && args[0] > 100;

describe('raw syscalls from a real isolate', () => {
  it('every random argument vector gets { v } or a known errno (or a copy error in the isolate); the kernels stay up', async () => {
    const kernels = Object.values(POLICIES).map(kernelFor);
    const nasty = nastyValues().filter((v) => !(v instanceof Uint8Array && v.length > 1 << 20));
    // SYS_EXIT and SYS_SIGNAL (to itself) would end the agent; closing fd 1 or 2 would silence its report;
    // a blocking SYS_TIMER of a valid but long delay (up to 24 days) waits that long, as it should, and would hang the run.
    const rows = ROWS.filter((r) => r.name !== 'SYS_EXIT' && r.name !== 'SYS_SIGNAL');
    const vector = vectorArb(nasty, rows).filter(([nr, args]) => !(nr === SYSCALL_NUMBERS.SYS_CLOSE && (args[0] === 1 || args[0] === 2)) && !longTimer(nr, args));
    const totals = { v: 0, errno: 0, uncloneable: 0 };
    let batch = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(vector, { minLength: 10, maxLength: 40 }), async (vectors) => {
        const kernel = kernels[batch++ % kernels.length]!;
        const { exit, stdout } = await runAgent(batchAgent(vectors), { kernel, filename: 'fuzz.js', manifest: { id: `fuzz-${batch}`, ...MANIFEST } });
        expect(exit.reason).toEqual({ kind: 'exit' });
        const line = stdout.split('\n').findLast((l) => l.startsWith('REPORT '));
        expect(line, stdout.slice(-500)).toBeDefined();
        const { counts, bad } = JSON.parse(line!.slice('REPORT '.length)) as { counts: typeof totals; bad: unknown[] };
        expect(bad).toEqual([]);
        expect(counts.v + counts.errno + counts.uncloneable).toBe(vectors.length);
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += counts[k];
      }),
      { numRuns: 20 },
    );
    expect(totals.v).toBeGreaterThan(30);
    expect(totals.errno).toBeGreaterThan(0);
    for (const kernel of kernels) {
      const { exit, stdout } = await runAgent("console.log('still up', sys.getpid() > 0);", { kernel });
      expect(exit.status).toBe(0);
      expect(stdout).toBe('still up true\n');
      await kernel.shutdown();
      expect(kernel.ps()).toEqual([]);
      expect(kernel.liveIsolates()).toBe(0);
    }
  });
});
