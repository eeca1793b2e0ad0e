// A pipeline of three agents joined by pipes, like `seq | upper | count`:
// this parent spawns each stage from a program in its own tree, wires their
// stdin/stdout with SYS_PIPE (64 KiB, blocking: a fast writer waits for a
// slow reader), and waits for all three.
//   npx agentctl run examples/pipeline.ts -- 1000
const lines = Number(sys.args[0] ?? 100);

sys.writeFile('mem/working/produce.js', `
  const n = Number(sys.args[0]);
  for (let i = 1; i <= n; i++) sys.write(1, 'item ' + i + '\\n');
`);
sys.writeFile('mem/working/upper.js', `
  for (;;) {
    const chunk = sys.read(0, 65536);
    if (chunk.length === 0) break;
    sys.write(1, sys.decodeUtf8(chunk).toUpperCase());
  }
`);
sys.writeFile('mem/working/count.js', `
  let lines = 0, bytes = 0, last = '';
  for (;;) {
    const chunk = sys.read(0, 65536);
    if (chunk.length === 0) break;
    bytes += chunk.length;
    const text = last + sys.decodeUtf8(chunk);
    const parts = text.split('\\n');
    last = parts.pop();
    lines += parts.length;
  }
  console.log('count: ' + lines + ' lines, ' + bytes + ' bytes; last line: ' + (last || 'ITEM ' + lines));
`);

const [r1, w1] = sys.pipe();
const [r2, w2] = sys.pipe();
const producer = sys.spawn('mem/working/produce.js', [String(lines)], { stdout: w1 });
const upper = sys.spawn('mem/working/upper.js', [], { stdin: r1, stdout: w2 });
const counter = sys.spawn('mem/working/count.js', [], { stdin: r2 });
// The parent must close its copies of the pipe ends, or the readers never see end of file.
for (const fd of [r1, w1, r2, w2]) sys.close(fd);

for (const pid of [producer, upper, counter]) {
  const { status } = sys.wait(pid);
  if (status !== 0) {
    console.error(`stage ${pid} failed with status ${status}`);
    sys.exit(1);
  }
}
console.log(`pipeline of 3 agents done (${lines} items)`);
