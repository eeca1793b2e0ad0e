import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { expectConfined, LONG_PATH, report, syscallRecords } from './harness.ts';

describe('SYS_UNLINK', () => {
  it('removes a file', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'x');
      const r = raw(SYS.SYS_UNLINK, 'mem/f');
      report({ r, stat: errnoOf(() => sys.stat('mem/f')), open: errnoOf(() => sys.open('mem/f', 'r')), listed: sys.readdir('mem').map((e) => e.name) });
    `);
    expect(value).toEqual({ r: { v: 0 }, stat: 'ENOENT', open: 'ENOENT', listed: ['episodic', 'semantic', 'working'] });
  });

  it('removes an empty directory', async () => {
    const { value } = await report(`sys.mkdir('mem/d'); sys.unlink('mem/d'); report(errnoOf(() => sys.stat('mem/d')));`);
    expect(value).toBe('ENOENT');
  });

  it('a removed name can be created again, empty', async () => {
    const { value } = await report(`sys.writeFile('mem/f', 'old'); sys.unlink('mem/f'); sys.appendFile('mem/f', 'new'); report(sys.readFile('mem/f'));`);
    expect(value).toBe('new');
  });

  it('ENOTEMPTY for a directory with entries, which is left intact', async () => {
    const { value } = await report(`
      sys.mkdir('mem/d/e', { recursive: true });
      sys.writeFile('mem/d/f', 'x');
      report({ errors: [errnoOf(() => sys.unlink('mem/d')), errnoOf(() => sys.unlink('mem'))], kept: sys.readFile('mem/d/f') });
    `);
    expect(value).toEqual({ errors: ['ENOTEMPTY', 'ENOTEMPTY'], kept: 'x' });
  });

  it('ENOENT for a missing path and an empty path; ENOTDIR below a file', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'x');
      report([errnoOf(() => sys.unlink('mem/missing')), errnoOf(() => sys.unlink('')), errnoOf(() => sys.unlink('mem/f/g'))]);
    `);
    expect(value).toEqual(['ENOENT', 'ENOENT', 'ENOTDIR']);
  });

  it('EROFS under policy/ and for the policy mount itself', async () => {
    const { value } = await report(`report({ errors: [errnoOf(() => sys.unlink('policy/policy.yaml')), errnoOf(() => sys.unlink('policy/VERSION')), errnoOf(() => sys.unlink('policy'))], still: sys.stat('policy/policy.yaml').type });`);
    expect(value).toEqual({ errors: ['EROFS', 'EROFS', 'EROFS'], still: 'file' });
  });

  it('EPERM for the root of the agent tree', async () => {
    const { value } = await report(`report([errnoOf(() => sys.unlink('.')), errnoOf(() => sys.unlink('/agent/' + sys.agentId))]);`);
    expect(value).toEqual(['EPERM', 'EPERM']);
  });

  it('EACCES for paths outside the agent tree, recorded as denied', async () => {
    await expectConfined('SYS_UNLINK', '(p) => sys.unlink(p)');
  });

  it("EACCES for another agent's file, which stays in place", async () => {
    const kernel = new Kernel();
    await report("sys.writeFile('mem/x', 'mine'); report(0);", { agentId: 'b', kernel });
    const { value } = await report(`report(['/agent/b/mem/x', '../b/mem/x', 'mem/../../b/mem/x'].map((p) => errnoOf(() => sys.unlink(p))));`, { agentId: 'a', kernel });
    expect(value).toEqual(['EACCES', 'EACCES', 'EACCES']);
    expect((await kernel.vfs('b').stat('/agent/b/mem/x')).type).toBe('file');
  });

  it('EINVAL for malformed arguments; ENAMETOOLONG for an over-long path', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'x');
      report([
        raw(SYS.SYS_UNLINK, 1),
        raw(SYS.SYS_UNLINK, { path: 'mem/f' }),
        raw(SYS.SYS_UNLINK),
        raw(SYS.SYS_UNLINK, 'mem/f\\0'),
        raw(SYS.SYS_UNLINK, 'mem/f', true),
        raw(SYS.SYS_UNLINK, ${JSON.stringify(LONG_PATH)}),
        sys.readFile('mem/f'),
      ]);
    `);
    expect(value).toEqual([...Array.from({ length: 5 }, () => ({ errno: 'EINVAL' })), { errno: 'ENAMETOOLONG' }, 'x']);
  });

  it('records each unlink with its resolved path and the rule that allowed it', async () => {
    const { result } = await report("sys.writeFile('mem/f', ''); sys.unlink('mem/./f'); report(0);", { agentId: 'a' });
    expect(syscallRecords(result.kernel, 'SYS_UNLINK').map((r) => [r.effect, r.rule, r.path, r.agentId])).toEqual([
      ['allow', 'own-tree', '/agent/a/mem/f', 'a'],
    ]);
  });
});
