import { describe, expect, it } from 'vitest';
import { MemfsBackend } from '../../vfs/memfs-backend.ts';
import { Quota } from '../../vfs/quota.ts';
import { backendConformance, backendQuota } from './conformance.ts';

backendConformance('memfs', () => new MemfsBackend());
backendQuota('memfs', (q) => new MemfsBackend(new Quota(q.bytes, q.inodes)));

describe('MemfsBackend.fromFiles', () => {
  it('holds the given files, creating their parent directories', async () => {
    const b = MemfsBackend.fromFiles({ '/README': 'read me', '/rules/a.json': '{}' });
    expect(b.kind).toBe('memfs');
    expect(b.readdir('/').toSorted((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'README', type: 'file' },
      { name: 'rules', type: 'dir' },
    ]);
    expect(b.stat('/rules/a.json')).toMatchObject({ type: 'file', size: 2 });
    const file = b.open('/README', 'r');
    expect(new TextDecoder().decode(await file.read(100, 0))).toBe('read me');
    file.close();
  });

  it('with no files is an empty root', () => {
    expect(MemfsBackend.fromFiles({}).readdir('/')).toEqual([]);
  });
});
