// console.table's rendering, in Node's box-drawing layout.

function pad(text, width) {
  return ` ${text}${' '.repeat(width - text.length - 1)}`;
}

function render(head, rows) {
  const widths = head.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i].length)) + 2);
  const line = (left, middle, right) => left + widths.map((width) => '─'.repeat(width)).join(middle) + right;
  const row = (cells) => `│${cells.map((cell, i) => pad(cell, widths[i])).join('│')}│`;
  return [line('┌', '┬', '┐'), row(head), line('├', '┼', '┤'), ...rows.map(row), line('└', '┴', '┘')].join('\n');
}

/** table renders `data` (an object, array, Map or Set) as Node's console.table does, formatting cells with `show`. */
export function table(data, properties, show) {
  let entries;
  let indexName = '(index)';
  if (data instanceof Map) {
    entries = [...data.entries()];
    indexName = '(iteration index)';
    entries = entries.map(([key, value], i) => [String(i), { Key: key, Values: value }]);
  } else if (data instanceof Set) {
    indexName = '(iteration index)';
    entries = [...data].map((value, i) => [String(i), value]);
  } else {
    entries = Object.keys(data).map((key) => [key, data[key]]);
  }
  const columns = [];
  let hasValues = false;
  for (const [, value] of entries) {
    if (value !== null && typeof value === 'object') {
      for (const key of Object.keys(value)) if (!columns.includes(key)) columns.push(key);
    } else hasValues = true;
  }
  const keys = properties ? [...properties] : columns;
  const head = [indexName, ...keys];
  if (hasValues) head.push('Values');
  const rows = entries.map(([index, value]) => {
    const isObject = value !== null && typeof value === 'object';
    const cells = keys.map((key) => (isObject && Object.prototype.hasOwnProperty.call(value, key) ? show(value[key]) : ''));
    if (hasValues) cells.push(isObject ? '' : show(value));
    return [index, ...cells];
  });
  return render(head, rows);
}
