// A research agent: it asks a model (llm.chat) what to do, offers it the MCP
// tools the policy lets it see (tools.list + SYS_CHECKPOLICY), runs the tool
// calls the model picks through SYS_EXEC, and stops with an answer, which it
// keeps under mem/episodic/. Under examples/policies/research.yaml reading
// the knowledge graph is allowed, anything that writes to it waits for an
// operator, deleting is denied, and the model has a token budget.
//   npx agentctl run examples/research-agent.ts --tools examples/research.agentd.yaml \
//     --policy examples/policies/research.yaml --manifest examples/research.manifest.yaml \
//     --approve=prompt -- "What do we know about Ada Lovelace?"
// (research.agentd.yaml reads the model's key from OPENAI_API_KEY.)

interface ToolInfo { name: string; description: string; inputSchema: Record<string, unknown>; risk: string }
interface ToolCall { id: string; type: 'function'; function: { name: string; arguments: string } }
interface Reply { content: string; tool_calls?: ToolCall[]; usage: { total_tokens: number } }
type Message =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

const MAX_STEPS = 8;
const task = sys.args.join(' ') || 'What do we know about Ada Lovelace?';

function errorText(err: unknown): string {
  return err instanceof sys.SyscallError ? `${err.errno}: ${err.message}` : String(err);
}

// Offer the model only the MCP tools this agent may use (allowed, or allowed once approved).
const listed = sys.exec('tools.list', { prefix: 'mcp.' }).output as ToolInfo[];
const offered = listed.filter((t) => sys.checkPolicy('SYS_EXEC', { tool: t.name, args: {} }).effect !== 'deny');
// Model function names may not contain dots: mcp.memory.search_nodes → mcp__memory__search_nodes.
const byFunction = new Map(offered.map((t) => [t.name.replaceAll('.', '__'), t.name]));
const functions = offered.map((t) => ({ type: 'function', function: { name: t.name.replaceAll('.', '__'), description: `${t.description} (risk ${t.risk})`, parameters: t.inputSchema } }));
console.log(`tools offered to the model: ${offered.map((t) => t.name).join(', ') || 'none'}`);

const messages: Message[] = [
  { role: 'system', content: 'You are a careful research assistant. Use the knowledge-graph tools to look things up and to record what you learn; then answer briefly.' },
  { role: 'user', content: task },
];

let answer: string | undefined;
for (let step = 1; step <= MAX_STEPS && answer === undefined; step++) {
  let reply: Reply;
  try {
    reply = sys.exec('llm.chat', { messages, tools: functions }).output as Reply;
  } catch (err) {
    console.log(`step ${step}: the model is out of reach (${errorText(err)})`);
    break;
  }
  if (!reply.tool_calls || reply.tool_calls.length === 0) {
    answer = reply.content;
    break;
  }
  messages.push({ role: 'assistant', content: reply.content || null, tool_calls: reply.tool_calls });
  for (const call of reply.tool_calls) {
    // A tool the model was not offered still goes to the kernel, which decides.
    const tool = byFunction.get(call.function.name) ?? call.function.name.replaceAll('__', '.');
    let result: string;
    try {
      const args = JSON.parse(call.function.arguments || '{}') as unknown;
      result = JSON.stringify(sys.exec(tool, args).output).slice(0, 8000);
      console.log(`step ${step}: ${tool} ok`);
    } catch (err) {
      result = `the kernel refused or the tool failed: ${errorText(err)}`;
      console.log(`step ${step}: ${tool} ${errorText(err)}`);
    }
    messages.push({ role: 'tool', tool_call_id: call.id, content: result });
  }
}

if (answer === undefined) {
  console.log('no answer');
} else {
  console.log(`answer: ${answer}`);
  sys.mkdir('mem/episodic/research', { recursive: true });
  sys.writeFile(`mem/episodic/research/${Date.now()}.md`, `# ${task}\n\n${answer}\n`);
}
