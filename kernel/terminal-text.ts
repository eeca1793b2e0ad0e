/**
 * Text an agent chose (a path, a tool or agent name, an error's message) on
 * its way to an operator's terminal or a log line: control characters are
 * escaped, so an agent cannot move the cursor, erase or fake a line, or split
 * a record in two.
 */

/**
 * Unicode's control characters (Cc: U+0000–U+001F, U+007F–U+009F), format
 * characters (Cf: the bidirectional overrides and isolates, which reorder
 * what follows them on the screen, zero-width ones) and the line and
 * paragraph separators (found by a review: U+202E could show a path in an
 * approval prompt backwards).
 */
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** printable escapes those characters (tab and newline included) as `\xNN` or `\u{NNNN}`. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
