// An agent under a policy (examples/policies/notes.yaml): it asks before
// acting, writes a note, asks an operator to delete it, and finally touches
// what the policy forbids — which ends it with SIGPOLICY (status 136).
//   npx agentctl run examples/governed.ts --policy examples/policies/notes.yaml --agent notes --approve=prompt
const note = 'mem/working/todo.txt';

const answer = sys.checkPolicy('SYS_UNLINK', { path: note });
console.log(`may I delete ${note}? ${answer.effect} (rule ${answer.rule})`);

sys.writeFile(note, 'water the plants\n');
console.log(`wrote ${note}: ${sys.readFile(note).trim()}`);

try {
  sys.unlink(note);
  console.log('deleted it: an operator approved');
} catch (err) {
  console.log(`not deleted: ${(err as SyscallError).errno} ${(err as SyscallError).message}`);
}

console.log('now reading a checkpoint, which the policy forbids…');
sys.readdir('state/checkpoints');
console.log('unreachable: the kernel ended this process');
