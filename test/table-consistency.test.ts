/**
 * Table consistency: every syscall is one well-formed row of SYSCALL_TABLE,
 * has its own test file, and anything not in the table answers ENOSYS.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROW_BY_NR, SYSCALL_NUMBERS, SYSCALL_TABLE } from '../syscalls/table.ts';
import { report, syscallRecords } from './syscalls/harness.ts';

const RESOURCES = ['path', 'fd', 'self', 'tool', 'process', 'program'];

/** testFileFor maps SYS_CHECKPOLICY to test/syscalls/checkpolicy.test.ts. */
function testFileFor(name: string): string {
  return `test/syscalls/${name.replace(/^SYS_/, '').toLowerCase().replaceAll('_', '-')}.test.ts`;
}

describe('SYSCALL_TABLE rows', () => {
  it('has unique numbers and unique SYS_* names', () => {
    const numbers = SYSCALL_TABLE.map((r) => r.nr);
    const names = SYSCALL_TABLE.map((r) => r.name);
    expect(new Set(numbers).size).toBe(SYSCALL_TABLE.length);
    expect(new Set(names).size).toBe(SYSCALL_TABLE.length);
    for (const row of SYSCALL_TABLE) {
      expect(Number.isInteger(row.nr) && row.nr >= 0, `${row.name} number`).toBe(true);
      expect(row.name).toMatch(/^SYS_[A-Z][A-Z0-9_]*$/);
    }
  });

  it('has the seed syscalls of the ABI', () => {
    const names = SYSCALL_TABLE.map((r) => r.name);
    for (const seed of ['SYS_READ', 'SYS_WRITE', 'SYS_OPEN', 'SYS_CLOSE', 'SYS_EXEC', 'SYS_SIGNAL', 'SYS_CHECKPOLICY', 'SYS_EXIT']) {
      expect(names).toContain(seed);
    }
  });

  it.each(SYSCALL_TABLE.map((r) => [r.name, r] as const))('%s has a schema whose argNames are its keys', (_name, row) => {
    expect(typeof row.args).toBe('object');
    for (const [arg, decoder] of Object.entries(row.args)) expect(typeof decoder, `${row.name}.${arg}`).toBe('function');
    expect([...row.argNames]).toEqual(Object.keys(row.args));
    expect(Object.isFrozen(row)).toBe(true);
  });

  it.each(SYSCALL_TABLE.map((r) => [r.name, r] as const))('%s has a policy point', (_name, row) => {
    expect(RESOURCES).toContain(row.policy.resource);
    if (row.policy.resource === 'path') {
      expect(['read', 'write', 'by-flags']).toContain(row.policy.access);
      expect(row.argNames).toContain('path');
    }
    if (row.policy.resource === 'fd') expect(row.argNames[0]).toBe('fd');
  });

  it.each(SYSCALL_TABLE.map((r) => [r.name, r] as const))('%s has a handler or an ENOSYS row naming its issue', (_name, row) => {
    const impl = row.impl;
    if (impl.kind === 'handler') {
      expect(typeof impl.run).toBe('function');
    } else {
      expect(impl.kind).toBe('enosys');
      expect(impl.until).toMatch(/^#\d+$/);
      expect(row.note).toContain('ENOSYS');
      expect(row.note).toContain(impl.until.slice(1));
      expect(row.note).toMatch(/#\d+/);
    }
    expect(row.note.length).toBeGreaterThan(0);
  });

  it.each(SYSCALL_TABLE.map((r) => [r.name, testFileFor(r.name)] as const))('%s has its own test file %s', (_name, file) => {
    expect(existsSync(new URL(`../${file}`, import.meta.url)), file).toBe(true);
  });

  it('maps SYS_READ and SYS_CHECKPOLICY to the expected file names', () => {
    expect(testFileFor('SYS_READ')).toBe('test/syscalls/read.test.ts');
    expect(testFileFor('SYS_CHECKPOLICY')).toBe('test/syscalls/checkpolicy.test.ts');
    expect(testFileFor('SYS_SIG_PROC_MASK')).toBe('test/syscalls/sig-proc-mask.test.ts');
  });
});

describe('SYSCALL_NUMBERS and ROW_BY_NR', () => {
  it('SYSCALL_NUMBERS holds exactly the table', () => {
    expect(Object.keys(SYSCALL_NUMBERS).toSorted()).toEqual(SYSCALL_TABLE.map((r) => r.name).toSorted());
    for (const row of SYSCALL_TABLE) expect(SYSCALL_NUMBERS[row.name]).toBe(row.nr);
    expect(Object.isFrozen(SYSCALL_NUMBERS)).toBe(true);
  });

  it('ROW_BY_NR finds every row by its number and nothing else', () => {
    for (const row of SYSCALL_TABLE) expect(ROW_BY_NR[row.nr]).toBe(row);
    expect(ROW_BY_NR.filter((r) => r !== undefined)).toHaveLength(SYSCALL_TABLE.length);
  });

  it('ring 3 sees the same numbers as SYS', async () => {
    const { value } = await report<Record<string, number>>('report({ ...SYS, frozen: Object.isFrozen(SYS) });');
    expect(value).toEqual({ ...SYSCALL_NUMBERS, frozen: true });
  });
});

describe('unknown syscall numbers', () => {
  it('answer ENOSYS through the raw syscall instruction, and are recorded as denied', async () => {
    const past = Math.max(...SYSCALL_TABLE.map((r) => r.nr)) + 1;
    const { value, result } = await report<unknown[]>(`
      const numbers = [999, -1, 'x', 1.5, NaN, ${past}, null, undefined, '0', 2 ** 53, {}];
      report(numbers.map((nr) => raw(nr)));
    `);
    expect(value).toEqual(Array.from({ length: 11 }, () => ({ errno: 'ENOSYS' })));
    expect(syscallRecords(result.kernel, '#999').map((r) => [r.effect, r.rule])).toEqual([['deny', 'kernel.enosys']]);
    expect(syscallRecords(result.kernel, '#x').map((r) => r.effect)).toEqual(['deny']);
    expect(syscallRecords(result.kernel, `#${past}`).map((r) => r.rule)).toEqual(['kernel.enosys']);
  });

  it('an ENOSYS reply carries a message and the agent keeps running', async () => {
    const { value, result } = await report<{ errno: string; message: unknown }>('const r = syscall(999, 1, 2); report({ errno: r.errno, message: typeof r.message });');
    expect(value).toEqual({ errno: 'ENOSYS', message: 'string' });
    expect(result.exit.status).toBe(0);
  });
});

describe("the README's syscall table", () => {
  // Made from SYSCALL_TABLE by bin/gen-typings.ts (test/typings.test.ts checks it is up to date): this checks the maker.
  it('lists every row of SYSCALL_TABLE with its number', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('## The syscall table'), readme.indexOf('## Where things live'));
    for (const row of SYSCALL_TABLE) expect(table, row.name).toMatch(new RegExp(`\\|\\s*${row.nr}\\s*\\|\\s*${row.name}\\s*\\|`));
  });
});
