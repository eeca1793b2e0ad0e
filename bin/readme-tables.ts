/**
 * The README's tables of the ABI, made from the tables that define it: the
 * syscall numbers (SYSCALL_TABLE), the signals (SIGNALS), the errnos (ERRNO,
 * ERRNO_TEXT) and the limits (LIMIT_TABLE, DEFAULT_LIMITS). Each sits in the
 * README between `<!-- generated: NAME -->` and `<!-- end: NAME -->`;
 * bin/gen-typings.ts writes them with agent.d.ts and `--check` finds them
 * stale, so a table change without a regenerated README fails the suite.
 */
import { ERRNO, ERRNO_TEXT, type Errno } from '../abi/errno.ts';
import { DEFAULT_LIMITS, LIMIT_TABLE } from '../kernel/limits.ts';
import { SIGNAL_NAMES, SIGNALS, exitStatusForSignal } from '../signals/signal-table.ts';
import { SYSCALL_TABLE } from '../syscalls/table.ts';

const row = (cells: readonly (string | number)[]): string => `|${cells.map((c) => (c === '' ? ' ' : ` ${c} `)).join('|')}|`;
const header = (cells: readonly string[]): string => `${row(cells)}\n${row(cells.map(() => '---'))}`;

/** syscalls: the numbers, in three columns of pairs. */
function syscalls(): string {
  const rows = SYSCALL_TABLE.toSorted((a, b) => a.nr - b.nr);
  const height = Math.ceil(rows.length / 3);
  const lines = [header(['nr', 'syscall', 'nr', 'syscall', 'nr', 'syscall'])];
  for (let i = 0; i < height; i++) {
    const cells = [0, 1, 2].flatMap((col): (string | number)[] => {
      const r = rows[col * height + i];
      return r === undefined ? ['', ''] : [r.nr, r.name];
    });
    lines.push(row(cells));
  }
  return lines.join('\n');
}

function signals(): string {
  const lines = [header(['signal', 'nr', 'default', 'notes'])];
  for (const name of SIGNAL_NAMES.toSorted((a, b) => SIGNALS[a].nr - SIGNALS[b].nr)) {
    const s = SIGNALS[name];
    lines.push(row([name, s.nr, s.action === 'terminate' ? `terminate (${exitStatusForSignal(name)})` : s.action, s.note]));
  }
  return lines.join('\n');
}

function errnos(): string {
  const names = (Object.keys(ERRNO) as Errno[]).toSorted((a, b) => ERRNO[a] - ERRNO[b]);
  return [header(['errno', 'nr', 'meaning']), ...names.map((e) => row([`\`${e}\``, ERRNO[e], ERRNO_TEXT[e]]))].join('\n');
}

/** amount writes a default in its unit: 32 MiB, 8,192; none when there is no default. */
function amount(value: number | undefined, unit: 'MiB' | 'bytes' | 'count'): string {
  if (value === undefined) return 'none';
  if (unit === 'bytes' && value % (1024 * 1024) === 0) return `${value / (1024 * 1024)} MiB`;
  return value.toLocaleString('en-US');
}

function limits(): string {
  const defaults: Readonly<Record<string, number | undefined>> = DEFAULT_LIMITS;
  return [header(['limit', 'default', 'past it']), ...LIMIT_TABLE.map((l) => row([`\`${l.name}\``, amount(defaults[l.key], l.unit), l.pastIt]))].join('\n');
}

/** README_TABLES are the generated tables by name. */
export const README_TABLES: Readonly<Record<string, () => string>> = { syscalls, signals, errnos, limits };

/** withTables is `readme` with each generated table made afresh; a table whose markers are missing is an error naming it. */
export function withTables(readme: string): string {
  let out = readme;
  for (const [name, make] of Object.entries(README_TABLES)) {
    const begin = `<!-- generated: ${name} (node bin/gen-typings.ts) -->\n`;
    const end = `<!-- end: ${name} -->`;
    const from = out.indexOf(begin);
    const to = out.indexOf(end, from);
    if (from < 0 || to < 0) throw new Error(`README.md has no markers for the ${name} table (${begin.trim()} … ${end})`);
    out = `${out.slice(0, from + begin.length)}${make()}\n${out.slice(to)}`;
  }
  return out;
}
