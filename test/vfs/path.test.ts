import { describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { errnoOf } from '../helpers.ts';
import { isWithin, relativeTo, resolvePath } from '../../vfs/path.ts';

const ROOT = '/agent/a';


describe('resolvePath', () => {
  it.each([
    ['mem/x', '/agent/a/mem/x'],
    ['.', '/agent/a'],
    ['./mem/./x/.', '/agent/a/mem/x'],
    ['mem//x', '/agent/a/mem/x'],
    ['mem/x/', '/agent/a/mem/x'],
    ['//agent//a///mem', '/agent/a/mem'],
    ['/agent/a', '/agent/a'],
    ['/etc/passwd', '/etc/passwd'],
    ['/', '/'],
  ])('resolves %j against /agent/a to %j', (input, expected) => {
    expect(resolvePath(ROOT, input)).toBe(expected);
  });

  it.each([
    ['..', '/agent'],
    ['../other/x', '/agent/other/x'],
    ['mem/../../x', '/agent/x'],
    ['mem/working/../../policy', '/agent/a/policy'],
    ['../../../../..', '/'],
    ['/..', '/'],
    ['/../../etc', '/etc'],
    ['/agent/a/../b', '/agent/b'],
  ])('.. pops one segment and never climbs above /: %j -> %j', (input, expected) => {
    expect(resolvePath(ROOT, input)).toBe(expected);
  });

  it.each([
    ['%2e%2e', '/agent/a/%2e%2e'],
    ['%2e%2e/%2e%2e/etc', '/agent/a/%2e%2e/%2e%2e/etc'],
    ['..%2f..%2fetc', '/agent/a/..%2f..%2fetc'],
    ['%2E%2E/x', '/agent/a/%2E%2E/x'],
    ['...', '/agent/a/...'],
    ['mem\\..\\..\\x', '/agent/a/mem\\..\\..\\x'],
    ['.hidden', '/agent/a/.hidden'],
  ])('encodings and look-alikes are literal names that stay inside the tree: %j', (input, expected) => {
    const out = resolvePath(ROOT, input);
    expect(out).toBe(expected);
    expect(isWithin(ROOT, out)).toBe(true);
  });

  it('resolves against any cwd, including /', () => {
    expect(resolvePath('/', 'a/b')).toBe('/a/b');
    expect(resolvePath('/', '..')).toBe('/');
    expect(resolvePath('/x/y', '../z')).toBe('/x/z');
  });

  it('ENOENT for an empty path', () => {
    expect(errnoOf(() => resolvePath(ROOT, ''))).toBe('ENOENT');
  });

  it('EINVAL for a NUL byte anywhere in the path', () => {
    expect(errnoOf(() => resolvePath(ROOT, 'a\0b'))).toBe('EINVAL');
    expect(errnoOf(() => resolvePath(ROOT, '\0'))).toBe('EINVAL');
    expect(errnoOf(() => resolvePath(ROOT, 'mem/x\0'))).toBe('EINVAL');
  });

  it('ENAMETOOLONG past 4096 characters; exactly 4096 is accepted', () => {
    expect(errnoOf(() => resolvePath(ROOT, 'x'.repeat(4097)))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => resolvePath(ROOT, `mem/${'a/'.repeat(2100)}`))).toBe('ENAMETOOLONG');
    const longest = `${'x'.repeat(255)}/`.repeat(16);
    expect(longest.length).toBe(4096);
    expect(resolvePath(ROOT, longest)).toBe(`/agent/a/${longest.slice(0, -1)}`);
  });

  it('ENAMETOOLONG for a component past 255 bytes of UTF-8, as Linux\'s NAME_MAX (an attacker pass: 8,000 names of 4 KiB held 87 MB of the kernel at 0 bytes of quota)', () => {
    expect(resolvePath(ROOT, `mem/${'x'.repeat(255)}`)).toBe(`/agent/a/mem/${'x'.repeat(255)}`);
    expect(errnoOf(() => resolvePath(ROOT, `mem/${'x'.repeat(256)}`))).toBe('ENAMETOOLONG');
    expect(resolvePath(ROOT, 'é'.repeat(127))).toBe(`/agent/a/${'é'.repeat(127)}`);
    expect(errnoOf(() => resolvePath(ROOT, 'é'.repeat(128)))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => resolvePath(ROOT, '\u{1F600}'.repeat(64)))).toBe('ENAMETOOLONG');
    // As in Linux, a long component fails even when .. takes it back.
    expect(errnoOf(() => resolvePath(ROOT, `${'x'.repeat(300)}/..`))).toBe('ENAMETOOLONG');
  });

  it('ENAMETOOLONG past 128 components once resolved (a Redis mount looks at each: 2,000 cost Redis ~10 ms a call); 128 is accepted', () => {
    expect(resolvePath('/', `/${'a/'.repeat(128)}`)).toBe(`/${'a/'.repeat(127)}a`);
    expect(errnoOf(() => resolvePath('/', `/${'a/'.repeat(129)}`))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => resolvePath(ROOT, 'a/'.repeat(127)))).toBe('ENAMETOOLONG');
    // .. counts as it resolves: a long path that comes back up is fine.
    expect(resolvePath('/', `${'a/'.repeat(200)}${'../'.repeat(199)}b`)).toBe('/a/b');
  });

  it('throws KernelError values, not host errors', () => {
    expect(() => resolvePath(ROOT, '')).toThrow(KernelError);
    expect(() => resolvePath(ROOT, 'a\0')).toThrow(KernelError);
  });
});

describe('isWithin', () => {
  it.each([
    ['/agent/a', true],
    ['/agent/a/mem', true],
    ['/agent/a/mem/working/x', true],
    ['/agent/a/%2e%2e', true],
    ['/agent', false],
    ['/', false],
    ['/agent/ab', false],
    ['/agent/a.b/x', false],
    ['/agent/b/x', false],
    ['/etc/passwd', false],
    ['/agentx/a', false],
  ])('/agent/a contains %j: %s', (path, expected) => {
    expect(isWithin(ROOT, path)).toBe(expected);
  });

  it('/ contains every absolute path', () => {
    expect(isWithin('/', '/')).toBe(true);
    expect(isWithin('/', '/agent/a/x')).toBe(true);
  });

  it('agrees with resolvePath on every escape attempt', () => {
    for (const input of ['..', '../a', '../ab', 'mem/../../a-b/x', '/agent/a/../b', '/agent/a/./../../etc']) {
      expect(isWithin(ROOT, resolvePath(ROOT, input)), input).toBe(input === '../a');
    }
  });
});

describe('relativeTo', () => {
  it('returns the backend path below a mount point', () => {
    expect(relativeTo('/agent/a', '/agent/a')).toBe('/');
    expect(relativeTo('/agent/a', '/agent/a/mem/x')).toBe('/mem/x');
    expect(relativeTo('/agent/a/policy', '/agent/a/policy/README')).toBe('/README');
    expect(relativeTo('/', '/x/y')).toBe('/x/y');
  });
});
