/**
 * The README's shell blocks as written: every fenced block tagged sh, bash,
 * shell, console or zsh, cut into commands (a line, or lines joined by a
 * trailing backslash) each with the comment written after it.
 */

/** The fence tags read as shell; any other tag (yaml, ts, …) is not a command block. */
const SHELL_TAGS = new Set(['sh', 'bash', 'shell', 'console', 'zsh']);

/** ShellCommand is one command of a block: its text as written and the comment after it. */
export interface ShellCommand {
  /** 1-based line in the markdown where the command starts. */
  readonly line: number;
  /** The command as written, continuation lines included, without the trailing comment. */
  readonly command: string;
  /** The comment after the command, without `#` and surrounding blanks; undefined when there is none. */
  readonly comment: string | undefined;
}

/** ShellBlock is one fenced shell block of the markdown. */
export interface ShellBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The `##`/`###` heading the block sits under ('' before the first). */
  readonly heading: string;
  /** The block's text between the fences, as written. */
  readonly source: string;
  readonly commands: readonly ShellCommand[];
  /** Lines that are only a comment (sample output, remarks). */
  readonly remarks: readonly string[];
}

/**
 * splitComment cuts a shell line at its comment: a `#` that starts a word
 * outside quotes. It returns the code (right blanks trimmed) and the comment,
 * or undefined when the line has none.
 */
export function splitComment(line: string): { code: string; comment: string | undefined } {
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === '\\') {
      i++;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      return { code: line.slice(0, i).trimEnd(), comment: line.slice(i + 1).trim() };
    }
  }
  return { code: line.trimEnd(), comment: undefined };
}

/** shellBlocks finds every fenced shell block of `markdown`, in order. */
export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (open === null) {
      const title = /^#{2,3}\s+(.*)$/.exec(lines[i]!);
      if (title !== null) heading = title[1]!.trim();
      continue;
    }
    const fence = open[1]!;
    const body: string[] = [];
    const start = i;
    for (i++; i < lines.length && !lines[i]!.trimStart().startsWith(fence); i++) body.push(lines[i]!);
    if (SHELL_TAGS.has(open[2]!)) blocks.push({ line: start + 1, heading, source: body.join('\n'), ...commandsOf(body, start + 2) });
  }
  return blocks;
}

/** commandsOf cuts a block's lines (the first at markdown line `first`) into commands and remarks. */
function commandsOf(body: readonly string[], first: number): { commands: ShellCommand[]; remarks: string[] } {
  const commands: ShellCommand[] = [];
  const remarks: string[] = [];
  let pending: { line: number; parts: string[] } | undefined;
  body.forEach((text, index) => {
    const { code, comment } = splitComment(text);
    if (pending === undefined && code.trim() === '') {
      if (comment !== undefined) remarks.push(comment);
      return;
    }
    pending ??= { line: first + index, parts: [] };
    if (code.endsWith('\\') && comment === undefined) {
      pending.parts.push(code);
      return;
    }
    pending.parts.push(code);
    commands.push({ line: pending.line, command: pending.parts.join('\n'), comment });
    pending = undefined;
  });
  if (pending !== undefined) commands.push({ line: pending.line, command: pending.parts.join('\n'), comment: undefined });
  return { commands, remarks };
}
