// console before the formatter: a call whose values are all strings, numbers,
// booleans, null or undefined (and no format directive) is printed here, as
// Node prints it; anything else goes to the full console (Node's
// util.inspect, from the web layer), built on first need, which from then
// on prints everything.
const objectIs = Object.is;
const apply = Reflect.apply;
const FD = { log: 1, info: 1, debug: 1, warn: 2, error: 2 };

function plainLine(values) {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const type = typeof v;
    if (type === 'string') {
      // A directive formats what follows it; a string alone prints as it is, '%' and all (as Node prints it).
      if (i === 0 && values.length > 1 && v.indexOf('%') !== -1) return undefined;
      line += (i === 0 ? '' : ' ') + v;
    } else if (type === 'number') line += (i === 0 ? '' : ' ') + (objectIs(v, -0) ? '-0' : String(v));
    else if (type === 'boolean' || v === null || v === undefined) line += (i === 0 ? '' : ' ') + String(v);
    else return undefined;
  }
  return line;
}

/** fastConsole returns a console whose log/info/debug/warn/error print plain values at once; the rest of `full()` on demand. */
export function fastConsole(write, full) {
  let rich;
  const console = {};
  const richConsole = () => (rich ??= full());
  for (const name of ['log', 'info', 'debug', 'warn', 'error']) {
    const fd = FD[name];
    console[name] = (...values) => {
      // Once the full console exists (it may be indenting a group), it prints everything.
      const line = rich === undefined ? plainLine(values) : undefined;
      if (line !== undefined) write(fd, `${line}\n`);
      else apply(richConsole()[name], undefined, values);
    };
  }
  for (const name of ['trace', 'dir', 'dirxml', 'table', 'assert', 'count', 'countReset', 'time', 'timeEnd', 'timeLog', 'group', 'groupCollapsed', 'groupEnd', 'clear']) {
    console[name] = (...args) => {
      // An assertion that holds prints nothing: no formatter is built for it.
      if (name === 'assert' && args[0]) return undefined;
      const fn = richConsole()[name];
      return typeof fn === 'function' ? apply(fn, undefined, args) : undefined;
    };
  }
  return console;
}
