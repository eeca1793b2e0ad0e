/**
 * A path with a lone UTF-16 surrogate ('\uD800') is refused with EINVAL on every mount (vfs/path.ts). It has no
 * UTF-8: the Redis backend sent it to Redis as U+FFFD, so on a Redis mount '/\uD800', '/\uDC00' and '/\uFFFD' were
 * one file (opening one read, truncated or unlinked the others: on a shared mount, another agent's) while memfs kept
 * them apart (an attacker pass).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { RedisBackend } from '../../vfs/redis-backend.ts';
import { redisForTests } from '../redis.ts';
import { report } from '../syscalls/harness.ts';

const env = await redisForTests('lone-surrogates');
afterAll(() => env?.cleanup());

describe.skipIf(env === undefined)('lone surrogates in paths', () => {
  it("are refused on a Redis mount and on memfs alike, so an agent's '\\uDC00' never opens its '\\uD800'", async () => {
    const client = await env!.client();
    const kernel = new Kernel({ mounts: [{ path: 'mem/semantic', backend: (agentId: string) => new RedisBackend(client, { prefix: env!.prefix, root: `agent/${agentId}/mem/semantic` }) }], stdout: () => {}, stderr: () => {} });
    try {
      const { value } = await report<Record<string, string>>(
        `const errno = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.errno; } };
         const out = {};
         for (const dir of ['mem/semantic', 'mem/working']) {
           out[dir + ' write'] = errno(() => sys.writeFile(dir + '/\\uD800', 'mine'));
           out[dir + ' read'] = errno(() => sys.readFile(dir + '/\\uDC00'));
           out[dir + ' mkdir'] = errno(() => sys.mkdir(dir + '/a\\uDBFFb'));
           out[dir + ' fffd'] = errno(() => sys.writeFile(dir + '/\\uFFFD', 'a replacement character is a character'));
           out[dir + ' list'] = sys.readdir(dir).map((e) => e.name).join(',');
         }
         report(out);`,
        { kernel, agentId: 'surr' },
      );
      expect(value).toEqual({
        'mem/semantic write': 'EINVAL',
        'mem/semantic read': 'EINVAL',
        'mem/semantic mkdir': 'EINVAL',
        'mem/semantic fffd': 'ok',
        'mem/semantic list': '\uFFFD',
        'mem/working write': 'EINVAL',
        'mem/working read': 'EINVAL',
        'mem/working mkdir': 'EINVAL',
        'mem/working fffd': 'ok',
        'mem/working list': '\uFFFD',
      });
    } finally {
      await kernel.shutdown();
    }
  }, 30_000);
});
