import { describe, expect, it } from 'vitest';
import { report } from './harness.ts';

describe('SYS_CANCEL', () => {
  it('cancels an outstanding asynchronous call: it completes with ECANCELED at once', async () => {
    const { value } = await report(`
      const ac = new AbortController();
      const slow = sys.async.sleep(60_000, { signal: ac.signal }).then(() => 'done', (e) => e.name);
      ac.abort();
      report(await slow);`);
    // Not the minute's sleep (the test would time out first): the cancel completed it.
    expect(value).toBe('AbortError');
  });

  it("false for an id that is not outstanding (completed, never issued, or another process's)", async () => {
    const { value } = await report(`
      await sys.async.sleep(0);
      report([raw(SYS.SYS_CANCEL, 1), raw(SYS.SYS_CANCEL, 999999), raw(SYS.SYS_CANCEL, 0), raw(SYS.SYS_CANCEL, 'x')]);`);
    expect(value).toEqual([{ v: false }, { v: false }, { errno: 'EINVAL' }, { errno: 'EINVAL' }]);
  });

  it('clearTimeout of the only timer lets the process end at once', async () => {
    // Kept alive by the timer, it would outlast the test's timeout.
    const { result } = await report("const t = setTimeout(() => console.log('never'), 60_000); clearTimeout(t); report('cleared');");
    expect(result.stdout).toBe('"cleared"\n');
    expect(result.exit).toMatchObject({ status: 0, reason: { kind: 'exit' } });
  });
});
