/**
 * Refusals while the decision log refuses records (a full disk: past 16 MiB
 * of records waiting, `record` throws EIO). Found by an attacker pass: the
 * window's summary, written from a timer, threw that EIO and ended agentd,
 * and the first 401 in that state was answered 500. A refusal is no effect:
 * its record is counted as unwritten and summed up once the log takes
 * records again.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { Metrics } from '../../kernel/service/metrics.ts';
import { RefusalLog } from '../../kernel/service/refusals.ts';
import type { DecisionInput } from '../../syscalls/records.ts';

describe('refusals while the decision log refuses records', () => {
  it('neither a refusal nor the window summary throws; what was not written is summed up once the log takes records', () => {
    const written: string[] = [];
    let full = true;
    const log = {
      record(entry: DecisionInput): number {
        if (full) throw new KernelError('EIO', 'the decision log cannot be written; nothing more is decided');
        written.push('detail' in entry ? (entry.detail ?? '') : '');
        return written.length;
      },
    };
    const refusals = new RefusalLog({ log, metrics: new Metrics(), windowMs: 60_000, maxClients: 4 });
    try {
      expect(() => refusals.refused(401, '10.0.0.1', '401 GET /v1/processes from 10.0.0.1')).not.toThrow();
      expect(() => refusals.refused(401, '10.0.0.1', '401 GET /v1/processes from 10.0.0.1')).not.toThrow();
      expect(() => refusals.refused(401, '10.0.0.1', '401 GET /v1/processes from 10.0.0.1')).not.toThrow();
      expect(() => refusals.flush()).not.toThrow();
      full = false;
      refusals.refused(403, '10.0.0.2', '403 PUT /v1/policy from 10.0.0.2');
      expect(written).toEqual(['3 refusals were not recorded (the decision log refused their records)', '403 PUT /v1/policy from 10.0.0.2']);
      // With no refusal to come, the next window's summary says it (a review: it waited for a refusal that might never come).
      full = true;
      refusals.refused(401, '10.0.0.3', '401 GET / from 10.0.0.3');
      full = false;
      refusals.flush();
      expect(written.at(-1)).toBe('1 refusals were not recorded (the decision log refused their records)');
    } finally {
      refusals.close();
    }
  });
});
