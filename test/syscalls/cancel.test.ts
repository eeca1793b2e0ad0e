import { describe, expect, it } from 'vitest';
import { report } from './harness.ts';

describe('SYS_CANCEL', () => {
  it('cancels an outstanding asynchronous call: it completes with ECANCELED at once', async () => {
    const { value } = await report(`
      const ac = new AbortController(); const t0 = Date.now();
      const slow = sys.async.sleep(60_000, { signal: ac.signal }).then(() => 'done', (e) => e.name);
      ac.abort();
      report({ outcome: await slow, quick: Date.now() - t0 < 5000 });`);
    expect(value).toEqual({ outcome: 'AbortError', quick: true });
  });

  it("false for an id that is not outstanding (completed, never issued, or another process's)", async () => {
    const { value } = await report(`
      await sys.async.sleep(0);
      report([raw(SYS.SYS_CANCEL, 1), raw(SYS.SYS_CANCEL, 999999), raw(SYS.SYS_CANCEL, 0), raw(SYS.SYS_CANCEL, 'x')]);`);
    expect(value).toEqual([{ v: false }, { v: false }, { errno: 'EINVAL' }, { errno: 'EINVAL' }]);
  });

  it('clearTimeout of the only timer lets the process end at once', async () => {
    const t0 = Date.now();
    const { result } = await report("const t = setTimeout(() => console.log('never'), 60_000); clearTimeout(t); report('cleared');");
    expect(result.stdout).toBe('"cleared"\n');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});
