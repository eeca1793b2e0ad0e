// A long-running notes agent for the README's agentd tour. It writes each
// argument as a note, asks to delete the oldest one — the tour's policy wants
// an operator for that (`agentctl approvals`, then `agentctl approve ap-1`) —
// and then waits for work until it is stopped, continued or killed. SIGTERM
// makes it say goodbye and exit 0.
const dir = 'mem/episodic/notes';
sys.mkdir(dir, { recursive: true });

const notes: string[] = sys.args.length > 0 ? [...sys.args] : ['remember the milk', 'call Alice'];
for (const [i, text] of notes.entries()) sys.writeFile(`${dir}/${String(i).padStart(3, '0')}.txt`, text);
console.log(`wrote ${notes.length} notes to /agent/${sys.agentId}/${dir}`);

sys.signal.on('SIGTERM', () => {
  console.log('SIGTERM: goodbye');
  sys.exit(0);
});

console.log(`asking to delete ${dir}/000.txt (see agentctl approvals)`);
try {
  sys.unlink(`${dir}/000.txt`);
  console.log('deleted 000.txt');
} catch (err) {
  console.log(`not deleted: ${(err as Error).message}`);
}

console.log('waiting for work (agentctl stop, cont, kill)');
await new Promise(() => {});
