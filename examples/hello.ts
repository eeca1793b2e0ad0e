// The smallest agent: greet the operator, then exit with a status of our choosing.
const who: string = sys.args[0] ?? 'world';
console.log(`hello, ${who}, from pid ${sys.getpid()} (agent ${sys.agentId})`);
