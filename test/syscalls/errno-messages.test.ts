/**
 * What an agent reads in a failed file syscall's message: Node's wording
 * (`ENOENT: no such file or directory, open '<path>'`) naming the path as
 * the agent sees it — `/agent/<id>/...`, also below a mount, never the path
 * inside the mount's backend — with the kernel's detail in parentheses when
 * there is more to say. Real agents in real isolates.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { agentctl, scratch } from '../governance/helpers.ts';
import { report } from './harness.ts';

const files = scratch();
afterAll(() => files.remove());

const MESSAGE_OF = "const messageOf = (fn) => { try { fn(); return 'ok'; } catch (e) { return [e.name, e.errno, e.message]; } };\n";

describe('file syscall errors read like Node', () => {
  it('name the errno once, its description, the operation and the agent path', async () => {
    const { value } = await report(
      `${MESSAGE_OF}
      sys.writeFile('mem/file', 'x');
      sys.mkdir('mem/full');
      sys.writeFile('mem/full/x', 'x');
      report({
        missing: messageOf(() => sys.readFile('mem/nope.txt')),
        absolute: messageOf(() => sys.readFile('/agent/me/mem/nope.txt')),
        stat: messageOf(() => sys.stat('mem/nope')),
        scandir: messageOf(() => sys.readdir('mem/file')),
        mkdir: messageOf(() => sys.mkdir('mem')),
        unlink: messageOf(() => sys.unlink('mem/full')),
        dir: messageOf(() => sys.open('mem', 'r')),
        policy: messageOf(() => sys.readFile('policy/nope.yaml')),
        readOnly: messageOf(() => sys.writeFile('policy/x', 'x')),
        mountPoint: messageOf(() => sys.unlink('/agent/me')),
      });
    `,
      { agentId: 'me' },
    );
    expect(value).toEqual({
      missing: ['SyscallError', 'ENOENT', "ENOENT: no such file or directory, open '/agent/me/mem/nope.txt'"],
      absolute: ['SyscallError', 'ENOENT', "ENOENT: no such file or directory, open '/agent/me/mem/nope.txt'"],
      stat: ['SyscallError', 'ENOENT', "ENOENT: no such file or directory, stat '/agent/me/mem/nope'"],
      scandir: ['SyscallError', 'ENOTDIR', "ENOTDIR: not a directory, scandir '/agent/me/mem/file'"],
      mkdir: ['SyscallError', 'EEXIST', "EEXIST: file already exists, mkdir '/agent/me/mem'"],
      unlink: ['SyscallError', 'ENOTEMPTY', "ENOTEMPTY: directory not empty, unlink '/agent/me/mem/full'"],
      dir: ['SyscallError', 'EISDIR', "EISDIR: illegal operation on a directory, open '/agent/me/mem'"],
      // policy/ is a mount of its own: its backend sees '/nope.yaml', the agent its own path.
      policy: ['SyscallError', 'ENOENT', "ENOENT: no such file or directory, open '/agent/me/policy/nope.yaml'"],
      readOnly: ['SyscallError', 'EROFS', "EROFS: read-only file system, open '/agent/me/policy/x'"],
      mountPoint: ['SyscallError', 'EPERM', "EPERM: operation not permitted, unlink '/agent/me' (it is a mount point)"],
    });
  });

  it('a write past the quota says ENOSPC and which bound, for the agent path', async () => {
    const { value } = await report(`${MESSAGE_OF} report(messageOf(() => sys.writeFile('mem/big', 'x'.repeat(5000))));`, { agentId: 'q', limits: { vfsBytes: 4096 } });
    expect(value).toEqual(['SyscallError', 'ENOSPC', "ENOSPC: no space left on device, write '/agent/q/mem/big' (the write would take the tree past its quota of 4096 bytes (0 used))"]);
  });

  it('an uncaught one is printed by agentctl run as the agent sees it', async () => {
    const program = files.write('missing.ts', "sys.readFile('mem/nope.txt');\n");
    const r = await agentctl(['run', program, '--agent', 'me']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^SyscallError: ENOENT: no such file or directory, open '\/agent\/me\/mem\/nope\.txt'\n {4}at /);
  });
});
