/**
 * Before the fix (found by an attacker pass): FdTable.open checks the table is not full, then opens the
 * file in the backend, then takes an fd (kernel/fd-table.ts open/allocate).
 * On a backend that answers later (Redis), opens issued together (an agent's
 * sys.async.open) all pass the first check; those that find the table full
 * when their open comes back get EMFILE — after the backend already created
 * or truncated (mode 'w') the file, and the BackendFile is dropped without
 * close(). An agent told EMFILE, "nothing was opened", has lost the file's
 * content (seen end to end too: 20 sys.async.open(…, 'w') with open_files 8
 * truncated files whose open failed with EMFILE, depending on timing).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FdTable } from '../../kernel/fd-table.ts';
import { AgentVfs } from '../../vfs/agent-vfs.ts';
import { RedisBackend } from '../../vfs/redis-backend.ts';
import { redisForTests } from '../redis.ts';

const env = await redisForTests('fd-emfile-race');
afterAll(() => env?.cleanup());

describe.skipIf(env === undefined)('EMFILE on a Redis mount', () => {
  it('an open that fails with EMFILE has not truncated (or created) the file', async () => {
    const client = await env!.client();
    const vfs = new AgentVfs('racer', { root: new RedisBackend(client, { prefix: env!.prefix, root: 'agent/racer' }) });
    await vfs.ready;
    const table = new FdTable(vfs, { stdout: FdTable.sink(() => undefined), stderr: FdTable.sink(() => undefined), limit: 5 });
    const root = '/agent/racer/mem/working';
    for (let i = 0; i < 6; i++) {
      const fd = await table.open(`${root}/f${i}`, 'w');
      await table.write(fd, new TextEncoder().encode('keep'));
      await table.close(fd);
    }
    // Six opens issued together, two fds free.
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        Promise.resolve()
          .then(() => table.open(`${root}/f${i}`, 'w'))
          .then(
            () => 'ok',
            (e: { errno?: string }) => e.errno ?? String(e),
          ),
      ),
    );
    expect(outcomes.filter((o) => o === 'EMFILE').length).toBe(4);
    const sizes = await Promise.all(outcomes.map(async (o, i) => (o === 'EMFILE' ? (await vfs.stat(`${root}/f${i}`)).size : 'opened')));
    // Every file whose open answered EMFILE still holds 'keep'.
    expect(sizes.filter((s) => s !== 'opened')).toEqual([4, 4, 4, 4]);
  });
});

describe.skipIf(env === undefined)('a call that ends after its process', () => {
  it('gets no fd once the process has ended: an open on a Redis mount, and a stream', async () => {
    const client = await env!.client();
    const vfs = new AgentVfs('late', { root: new RedisBackend(client, { prefix: env!.prefix, root: 'agent/late' }) });
    await vfs.ready;
    const table = new FdTable(vfs, { stdout: FdTable.sink(() => undefined), stderr: FdTable.sink(() => undefined), limit: 8 });
    // The open waits on Redis while the process ends.
    const opening = Promise.resolve(table.open('/agent/late/mem/working/f', 'w')).then(
      (fd) => `fd ${fd}`,
      (e: { errno?: string }) => e.errno ?? String(e),
    );
    table.closeAll();
    expect(await opening).toBe('EBADF');
    expect(() => table.openStream()).toThrow(/the process has ended/);
    for (let fd = 0; fd < 8; fd++) expect(table.kindOf(fd)).toBeUndefined();
  });
});
