/**
 * Text an agent chose, on its way to an operator's terminal: control
 * characters, and (found by a review) the format characters that reorder or
 * hide what follows them on the screen, and the line and paragraph
 * separators, are escaped; everything else is left as it is.
 */
import { describe, expect, it } from 'vitest';
import { printable } from '../../kernel/terminal-text.ts';

describe('printable', () => {
  it('escapes control, format and separator characters and leaves the rest', () => {
    expect(printable('a\x1b[2K\rb\nc\x7f\x9b')).toBe('a\\x1b[2K\\x0db\\x0ac\\x7f\\x9b');
    // U+202E shows what follows backwards; U+2066–2069 and U+200E/F reorder too; U+200B hides; U+2028/2029 break lines.
    expect(printable('/payees/\u202Egnp.exe\u2066x\u2069\u200E\u200B\u2028\u2029')).toBe('/payees/\\u{202e}gnp.exe\\u{2066}x\\u{2069}\\u{200e}\\u{200b}\\u{2028}\\u{2029}');
    expect(printable('naïve 東京 ✓ /agent/a-1/mem/x.txt')).toBe('naïve 東京 ✓ /agent/a-1/mem/x.txt');
  });
});
