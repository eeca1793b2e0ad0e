import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { report, syscallRecords } from './harness.ts';

describe('SYS_GETPID', () => {
  it("returns the caller's pid, the same as sys.pid and the exit record", async () => {
    const { value, result } = await report<{ raw: unknown; sys: number; wrapper: number }>('report({ raw: raw(SYS.SYS_GETPID), sys: sys.pid, wrapper: sys.getpid() });');
    expect(value).toEqual({ raw: { v: result.exit.pid }, sys: result.exit.pid, wrapper: result.exit.pid });
  });

  it('gives each process of one kernel its own pid, in spawn order', async () => {
    const kernel = new Kernel();
    const first = await report('report(sys.getpid());', { kernel });
    const second = await report('report(sys.getpid());', { kernel });
    expect([first.value, second.value]).toEqual([1, 2]);
  });

  it('is stable across calls', async () => {
    const { value } = await report('const a = sys.getpid(); const b = sys.getpid(); report(a === b);');
    expect(value).toBe(true);
  });

  it('EINVAL for any argument, since the row takes none', async () => {
    const { value } = await report(`report([raw(SYS.SYS_GETPID, 1), raw(SYS.SYS_GETPID, undefined), raw(SYS.SYS_GETPID, 'x', 'y'), raw(SYS.SYS_GETPID, {})]);`);
    expect(value).toEqual(Array.from({ length: 4 }, () => ({ errno: 'EINVAL' })));
  });

  it('records every getpid as a decision allowed for the caller', async () => {
    const { result } = await report('sys.getpid(); sys.getpid(); report(0);', { agentId: 'who' });
    expect(syscallRecords(result.kernel, 'SYS_GETPID').map((r) => [r.effect, r.rule, r.agentId, r.pid])).toEqual([
      ['allow', 'own-fds-and-self', 'who', result.exit.pid],
      ['allow', 'own-fds-and-self', 'who', result.exit.pid],
    ]);
  });
});
