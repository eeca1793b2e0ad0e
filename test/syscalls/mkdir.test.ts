import { describe, expect, it } from 'vitest';
import { expectConfined, LONG_PATH, report, syscallRecords } from './harness.ts';

describe('SYS_MKDIR', () => {
  it('creates a directory that stat and readdir then see', async () => {
    const { value } = await report(`
      const r = raw(SYS.SYS_MKDIR, 'mem/working/notes');
      report({ r, type: sys.stat('mem/working/notes').type, empty: sys.readdir('mem/working/notes'), listed: sys.readdir('mem/working') });
    `);
    expect(value).toEqual({ r: { v: 0 }, type: 'dir', empty: [], listed: [{ name: 'notes', type: 'dir' }] });
  });

  it('recursive creates every missing parent', async () => {
    const { value } = await report(`
      sys.mkdir('mem/semantic/a/b/c', { recursive: true });
      report(['mem/semantic/a', 'mem/semantic/a/b', 'mem/semantic/a/b/c'].map((p) => sys.stat(p).type));
    `);
    expect(value).toEqual(['dir', 'dir', 'dir']);
  });

  it('recursive succeeds on an existing directory and keeps its content', async () => {
    const { value } = await report(`
      sys.mkdir('mem/d');
      sys.writeFile('mem/d/f', 'x');
      report({ again: raw(SYS.SYS_MKDIR, 'mem/d', true), root: raw(SYS.SYS_MKDIR, '.', true), kept: sys.readFile('mem/d/f') });
    `);
    expect(value).toEqual({ again: { v: 0 }, root: { v: 0 }, kept: 'x' });
  });

  it('EEXIST without recursive for an existing directory, a file, a standard directory and the root', async () => {
    const { value } = await report(`
      sys.mkdir('mem/d');
      sys.writeFile('mem/f', 'x');
      report([errnoOf(() => sys.mkdir('mem/d')), errnoOf(() => sys.mkdir('mem/f')), errnoOf(() => sys.mkdir('mem/working')), errnoOf(() => sys.mkdir('.')), sys.stat('mem/f').type]);
    `);
    expect(value).toEqual(['EEXIST', 'EEXIST', 'EEXIST', 'EEXIST', 'file']);
  });

  it('ENOENT without recursive when the parent is missing; nothing is created', async () => {
    const { value } = await report(`report([errnoOf(() => sys.mkdir('mem/a/b')), errnoOf(() => sys.stat('mem/a')), errnoOf(() => sys.mkdir(''))]);`);
    expect(value).toEqual(['ENOENT', 'ENOENT', 'ENOENT']);
  });

  it('ENOTDIR when a parent is a file, with or without recursive', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'x');
      report([errnoOf(() => sys.mkdir('mem/f/d')), errnoOf(() => sys.mkdir('mem/f/d/e', { recursive: true }))]);
    `);
    expect(value).toEqual(['ENOTDIR', 'ENOTDIR']);
  });

  it('EROFS under policy/, with or without recursive', async () => {
    const { value } = await report(`
      report({
        errors: [errnoOf(() => sys.mkdir('policy/x')), errnoOf(() => sys.mkdir('policy/x/y', { recursive: true })), errnoOf(() => sys.mkdir('policy')), errnoOf(() => sys.mkdir('policy', { recursive: true }))],
        listing: sys.readdir('policy').map((e) => e.name),
      });
    `);
    expect(value).toEqual({ errors: ['EROFS', 'EROFS', 'EROFS', 'EROFS'], listing: ['VERSION', 'policy.yaml'] });
  });

  it('EACCES for paths outside the agent tree, recorded as denied, creating nothing', async () => {
    const kernel = await expectConfined('SYS_MKDIR', '(p) => sys.mkdir(p, { recursive: true })');
    expect(() => kernel.vfs('b').stat('/agent/b/mem/x')).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
    expect(() => kernel.vfs('other-agent').stat('/agent/other-agent/x')).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
  });

  it('EINVAL for malformed arguments; ENAMETOOLONG for an over-long path', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_MKDIR, 'mem/d', 'yes'),
        raw(SYS.SYS_MKDIR, 'mem/d', 1),
        raw(SYS.SYS_MKDIR, 'mem/d', { recursive: true }),
        raw(SYS.SYS_MKDIR, 'mem/d', null),
        raw(SYS.SYS_MKDIR, 7),
        raw(SYS.SYS_MKDIR, { path: 'mem/d' }),
        raw(SYS.SYS_MKDIR),
        raw(SYS.SYS_MKDIR, 'mem/d\\0e'),
        raw(SYS.SYS_MKDIR, 'mem/d', false, 'extra'),
        raw(SYS.SYS_MKDIR, ${JSON.stringify(LONG_PATH)}),
        errnoOf(() => sys.stat('mem/d')),
      ]);
    `);
    expect(value).toEqual([...Array.from({ length: 9 }, () => ({ errno: 'EINVAL' })), { errno: 'ENAMETOOLONG' }, 'ENOENT']);
  });

  it('records each mkdir with its resolved path and the rule that allowed it', async () => {
    const { result } = await report("sys.mkdir('mem/x'); errnoOf(() => sys.mkdir('policy/y')); report(0);", { agentId: 'a' });
    expect(syscallRecords(result.kernel, 'SYS_MKDIR').map((r) => [r.effect, r.rule, r.path, r.agentId])).toEqual([
      ['allow', 'own-tree', '/agent/a/mem/x', 'a'],
      ['allow', 'own-tree', '/agent/a/policy/y', 'a'],
    ]);
  });
});
