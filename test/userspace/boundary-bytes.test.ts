/**
 * What crosses for a byte argument: the host copies a view's whole buffer,
 * so the runtime's boundary hands it a fresh copy of a view's own bytes
 * when the view is part of a larger (or a resizable) buffer.
 * Found by an attacker pass: a one-byte view of 56 MiB cost the kernel's
 * loop 64–80 ms a SYS_WRITE, bounded by the agent's heap, not the ABI.
 * The boundary runs here as the runtime bundles it, in a real isolate, its
 * `enter` a host callback that keeps what arrived.
 */
import { build } from 'esbuild';
import ivm from 'isolated-vm';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARGUMENT_BOUNDS } from '../../abi/limits.ts';

let isolate: ivm.Isolate;
let context: ivm.Context;
const arrived: unknown[][] = [];

beforeAll(async () => {
  const source = await build({
    stdin: { contents: `import { boundary } from ${JSON.stringify(fileURLToPath(new URL('../../userspace/runtime/boundary.js', import.meta.url)))}; globalThis.__boundary = boundary;`, resolveDir: fileURLToPath(new URL('.', import.meta.url)), loader: 'js' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    write: false,
    logLevel: 'silent',
  });
  isolate = new ivm.Isolate({ memoryLimit: 128 });
  context = await isolate.createContext();
  await context.global.set('__enter', new ivm.Callback((...args: unknown[]) => void arrived.push(args)));
  await context.global.set('__boot', { ...ARGUMENT_BOUNDS, dataCalls: [], fdArguments: {}, lanes: {} }, { copy: true });
  await context.eval(source.outputFiles[0]!.text);
  await context.eval('globalThis.__sys = __boundary({ enter: (...a) => (__enter(...a), { t: "value", v: 0 }), enterAsync: () => ({ t: "value", v: 0 }), collect: () => null, wake: new Int32Array(new SharedArrayBuffer(8)), wakeNumber: new Float64Array(1), boot: __boot }, () => {}, () => {});');
});
afterAll(() => isolate.dispose());

/** crossed runs `expression` (a Uint8Array) through a raw SYS_WRITE and returns the bytes the host got: its length, its buffer's, its contents. */
async function crossed(expression: string): Promise<[number, number, number[]]> {
  arrived.length = 0;
  await context.eval(`__sys.rawSyscall(3, [7, ${expression}]);`);
  const bytes = arrived[0]![2] as Uint8Array;
  return [bytes.byteLength, bytes.buffer.byteLength, Array.from(bytes)];
}

describe('a byte argument crosses as its own bytes', () => {
  it('a small view of a large buffer: only its bytes (the whole 48 MiB crossed before)', async () => {
    expect(await crossed('new Uint8Array(new ArrayBuffer(48 << 20), 5, 3).fill(9)')).toEqual([3, 3, [9, 9, 9]]);
  });

  it('a view of part of a small buffer (a pooled Buffer) and one of a resizable buffer: copies', async () => {
    expect(await crossed('new Uint8Array(new ArrayBuffer(16), 8, 2).fill(1)')).toEqual([2, 2, [1, 1]]);
    expect(await crossed('new Uint8Array(new ArrayBuffer(2, { maxByteLength: 1 << 20 })).fill(3)')).toEqual([2, 2, [3, 3]]);
  });

  it('a whole buffer crosses as it is; so does shared memory, for the kernel to refuse', async () => {
    expect(await crossed('new Uint8Array([4, 5, 6])')).toEqual([3, 3, [4, 5, 6]]);
    await crossed('new Uint8Array(new SharedArrayBuffer(4)).fill(2)');
    expect((arrived[0]![2] as Uint8Array).buffer).toBeInstanceOf(SharedArrayBuffer);
  });
});
