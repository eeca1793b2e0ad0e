// Stack traces at the author's files and lines, inside the program: a built
// program runs as one bundle (its frames name `agent-bundle:<file>`), and
// `err.stack` as the program reads it maps each of the bundle's positions
// through the program's source map, as Node does with --enable-source-maps.
// The map is not in the isolate until a stack is first formatted: the
// runtime then asks the kernel for it (the `source-map` layer, answered as
// the call's copied result: the map's sources as the kernel shows them, its
// VLQ mappings, and the decoder's state every so many lines; nothing when
// the map would take too much of the isolate's heap), and decodes at most
// that many lines per frame. A program that sets Error.prepareStackTrace
// itself gets V8's call sites as usual (the kernel then maps its uncaught
// errors' positions). Everything here is untrusted: the kernel relies on
// none of it.

import { authorFrames } from './author-frames.js';

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) DIGIT[BASE64.charCodeAt(i)] = i;

const apply = Reflect.apply;
const errorToString = Error.prototype.toString;
const stringOf = String;

/**
 * lineSegments decodes generated line `line` (0-based) of `map`: its
 * segments [column, source, line, column] (0-based; source -1 for a
 * segment that maps to nothing), from the checkpoint at or before it. The
 * map's checkpoints: every `every` lines, [offset into mappings, source,
 * original line, original column] as the decoder has them there.
 */
function lineSegments(map, line) {
  const { mappings, checkpoints, every } = map;
  const k = Math.min(Math.floor(line / every), checkpoints.length / 4 - 1);
  if (k < 0) return [];
  let at = checkpoints[k * 4];
  let source = checkpoints[k * 4 + 1];
  let original = checkpoints[k * 4 + 2];
  let column = checkpoints[k * 4 + 3];
  const fields = [0, 0, 0, 0, 0];
  for (let current = k * every; current <= line; current++) {
    const segments = [];
    let generated = 0;
    while (at < mappings.length) {
      const c = mappings.charCodeAt(at);
      if (c === 59) {
        at++;
        break;
      }
      if (c === 44) {
        at++;
        continue;
      }
      let n = 0;
      while (at < mappings.length && n < 5) {
        const d = mappings.charCodeAt(at);
        if (d === 44 || d === 59) break;
        let value = 0;
        let shift = 0;
        let digit;
        do {
          const ch = mappings.charCodeAt(at++);
          digit = ch < 128 ? DIGIT[ch] : -1;
          if (digit < 0) return [];
          value += (digit & 31) * 2 ** shift;
          shift += 5;
        } while (digit & 32 && shift < 50);
        fields[n++] = value % 2 === 1 ? -(value - 1) / 2 : value / 2;
      }
      generated += fields[0];
      if (n >= 4) {
        source += fields[1];
        original += fields[2];
        column += fields[3];
      }
      if (current === line) segments.push(n >= 4 ? [generated, source, original, column] : [generated, -1, 0, 0]);
    }
    if (current === line) return segments;
  }
  return [];
}

/** originalOf is the author's `file:line:col` for the bundle's 1-based `line:col`, or undefined. */
function originalOf(map, line, col) {
  if (line < 1 || col < 1 || line > (map.checkpoints.length / 4) * map.every) return undefined;
  let found;
  for (const segment of lineSegments(map, line - 1)) {
    if (segment[0] > col - 1) break;
    // Of segments at one column, the first (as the kernel's own mapping takes it).
    if (found === undefined || found[0] !== segment[0]) found = segment;
  }
  if (found === undefined || found[1] < 0 || found[1] >= map.sources.length) return undefined;
  return `${map.sources[found[1]]}:${found[2] + 1}:${found[3] + 1}`;
}

/**
 * installStackMap makes V8's stack traces name the author's positions for
 * frames in `bundle` (the program's script name), loading the map through
 * `load` on first need (undefined when it cannot: positions stay the
 * bundle's).
 */
export function installStackMap(ErrorCtor, bundle, load) {
  let map;
  let at;
  let tried = false;
  const mapped = (text) => {
    if (!tried) {
      tried = true;
      at = new RegExp(`${bundle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):(\\d+)`, 'g');
      try {
        const given = load();
        map = given !== null && typeof given === 'object' && typeof given.mappings === 'string' && Array.isArray(given.sources) && Array.isArray(given.checkpoints) && given.every > 0 ? given : undefined;
      } catch {
        map = undefined;
      }
    }
    if (map === undefined) return text;
    return text.replace(at, (whole, line, col) => originalOf(map, Number(line), Number(col)) ?? whole);
  };
  function prepareStackTrace(error, frames) {
    let head;
    try {
      head = apply(errorToString, error, []);
    } catch {
      head = '<error>';
    }
    const lines = [];
    for (const frame of frames) {
      let shown;
      try {
        shown = stringOf(frame);
      } catch {
        shown = '<frame>';
      }
      lines.push(`    at ${shown.includes(bundle) ? mapped(shown) : shown}`);
    }
    // The author's frames: not the bundler's helpers, the kernel's entry shim or the runtime (author-frames.js).
    let kept;
    try {
      kept = authorFrames(lines);
    } catch {
      // A program that broke the built-ins this uses gets every frame.
      kept = lines;
    }
    let text = head;
    for (const line of kept) text += `\n${line}`;
    return text;
  }
  Object.defineProperty(ErrorCtor, 'prepareStackTrace', { value: prepareStackTrace, writable: true, enumerable: false, configurable: true });
}
