// An agent that keeps notes in its VFS memory: it writes each argument as a
// note under mem/episodic/, lists what it has, and reads every note back.
const dir = 'mem/episodic/notes';
sys.mkdir(dir, { recursive: true });

const notes: string[] = sys.args.length > 0 ? [...sys.args] : ['remember the milk', 'call Alice'];
for (const [i, text] of notes.entries()) {
  sys.writeFile(`${dir}/${String(i).padStart(3, '0')}.txt`, text);
}

const entries = sys.readdir(dir);
console.log(`${entries.length} notes in /agent/${sys.agentId}/${dir}:`);
for (const entry of entries) {
  const text = sys.readFile(`${dir}/${entry.name}`);
  const { size } = sys.stat(`${dir}/${entry.name}`);
  console.log(`  ${entry.name} (${size} bytes): ${text}`);
}
