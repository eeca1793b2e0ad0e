/**
 * Text an agent chose (a path, a tool or agent name, an error's message) on
 * its way to an operator's terminal or a log line: control characters are
 * escaped, so an agent cannot move the cursor, erase or fake a line, or split
 * a record in two.
 */

/** Unicode's control characters (Cc): U+0000–U+001F and U+007F–U+009F. */
const CONTROL = /\p{Cc}/gu;

/** printable escapes control characters (tab and newline included) as `\xNN`. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
