import { describe, expect, it } from 'vitest';
import { report, syscallRecords } from './harness.ts';

describe('SYS_RANDOM', () => {
  it('returns length bytes from the kernel, different each call', async () => {
    const { value } = await report(`
      const a = sys.random(32), b = sys.random(32);
      report({ lengths: [a.length, b.length, sys.random(65536).length], differ: a.some((x, i) => x !== b[i]), type: Object.prototype.toString.call(a) });`);
    expect(value).toEqual({ lengths: [32, 32, 65536], differ: true, type: '[object Uint8Array]' });
  });

  it('EINVAL for 0, more than 65,536 or a non-integer', async () => {
    const { value } = await report('report([raw(SYS.SYS_RANDOM, 0), raw(SYS.SYS_RANDOM, 65537), raw(SYS.SYS_RANDOM, 1.5), raw(SYS.SYS_RANDOM)]);');
    expect(value).toEqual(Array.from({ length: 4 }, () => ({ errno: 'EINVAL' })));
  });

  it('crypto.getRandomValues and randomUUID ride on it, each a recorded decision', async () => {
    const { value, result } = await report('const u = crypto.randomUUID(); const v = crypto.getRandomValues(new Uint32Array(4)); report({ uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(u), n: v.length });');
    expect(value).toEqual({ uuid: true, n: 4 });
    expect(syscallRecords(result.kernel, 'SYS_RANDOM').length).toBeGreaterThanOrEqual(2);
  });
});
