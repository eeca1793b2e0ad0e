/** Processes: spawn, list, inspect, output, signal, checkpoint. In a cluster, a pid of another node is answered by that node. */
import type { FastifyInstance } from 'fastify';
import { parseSignal, type SignalName } from '../../../signals/signal-table.ts';
import { KernelError } from '../../../abi/errno.ts';
import { atOwner } from '../../cluster/process-calls.ts';
import { buildProgram, builtProgram } from '../../program.ts';
import { AUTONOMY_LEVELS, type Autonomy } from '../../autonomy.ts';
import type { ServiceContext } from '../context.ts';
import { noProcess, PID_PARAMS, PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';
import type { ProcessOutput } from '../output.ts';

const EXIT_REASON = {
  type: 'object',
  description: 'why the process ended: exit (its own status), error (the uncaught error: its text and stack at the agent\'s source positions) or signal (which, and why: an operator, a limit, shutdown)',
  properties: { kind: { type: 'string', enum: ['exit', 'error', 'signal'] }, error: { type: 'string' }, signal: { type: 'string' }, why: { type: 'string' } },
  required: ['kind'],
} as const;

const OUTPUT = {
  type: 'object',
  properties: {
    stdout: { type: 'string' },
    stderr: { type: 'string' },
    status: { type: 'integer', description: 'once the process has exited: its status' },
    exitReason: EXIT_REASON,
  },
} as const;

const PROCESS = {
  type: 'object',
  properties: {
    pid: { type: 'integer' },
    ppid: { type: 'integer' },
    agentId: { type: 'string' },
    state: { type: 'string' },
    program: { type: 'string' },
    syscalls: { type: 'integer' },
    openFds: { type: 'integer' },
    startedAt: { type: 'number' },
    pendingSignals: { type: 'array', items: { type: 'string' } },
    status: { type: 'integer' },
    node: { type: 'string', description: 'in a cluster: the node that runs the process' },
    labels: { type: 'object', additionalProperties: { type: 'string' }, description: "the agent's labels (its manifest's): what agentctl kill --selector matches" },
    breakers: { type: 'array', items: { type: 'string' }, description: "the tools (or syscalls) whose circuit breaker is open for the agent: its calls of them are refused (EAGAIN) until the cool-down (kernel/breakers.ts)" },
    autonomy: { type: 'string', description: "the agent's autonomy level when not full: supervised or observe (kernel/autonomy.ts)" },
    trust: { type: 'integer', description: "the agent's trust score, 0–1000: denials, violations and refused approvals lower it, clean time restores it (kernel/trust.ts)" },
    lostAt: { type: 'number', description: 'in a cluster: when the node running the process was found dead (state lost)' },
    exitReason: EXIT_REASON,
    tree: {
      type: 'object',
      description: 'what the kernel accounts to the process tree (and the agent\'s files): root pid, members, CPU (isolates and kernel) and the kernel\'s share, syscalls, bytes of decision records, output, VFS bytes and inodes with their quota',
      properties: {
        root: { type: 'integer' },
        processes: { type: 'integer' },
        cpuMs: { type: 'number' },
        kernelMs: { type: 'number' },
        syscalls: { type: 'integer' },
        syscallsThisSecond: { type: 'integer' },
        logBytes: { type: 'integer' },
        outputBytes: { type: 'integer' },
        vfsBytes: { type: 'integer' },
        vfsInodes: { type: 'integer' },
        vfsBytesLimit: { type: 'integer' },
        vfsInodesLimit: { type: 'integer' },
      },
    },
  },
} as const;

const SPAWN_BODY = {
  type: 'object',
  required: ['source'],
  additionalProperties: false,
  properties: {
    source: { type: 'string', maxLength: 4 * 1024 * 1024 },
    filename: { type: 'string', maxLength: 256 },
    source_map: { type: 'string', maxLength: 4 * 1024 * 1024, description: "a program already built (agentctl spawn bundles like agentctl run): its source map ('' for none); the source is then run as the JavaScript it is, whatever the filename's extension" },
    argv: { type: 'array', items: { type: 'string', maxLength: 65536 }, maxItems: 256 },
    manifest: {
      type: 'object',
      additionalProperties: false,
      properties: {
        id: { type: 'string', maxLength: 64 },
        labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 64 },
        capabilities: { type: 'array', items: { type: 'string', maxLength: 512 }, maxItems: 256 },
        autonomy: { enum: [...AUTONOMY_LEVELS], description: 'how much the agent may do without a human: full (the policy decides), supervised (its changes need approval), observe (it may only read)' },
      },
    },
  },
} as const;

interface SpawnBody {
  source: string;
  filename?: string;
  source_map?: string;
  argv?: string[];
  manifest?: { id?: string; labels?: Record<string, string>; capabilities?: string[]; autonomy?: Autonomy };
}

export function processRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { kernel } = ctx;
  const find = (pid: number) => {
    const proc = kernel.get(pid);
    if (proc === undefined) throw noProcess(pid, ctx.config);
    return proc;
  };
  // Run on the node that runs the pid (relayed like signals), here when agentd runs alone.
  const output = atOwner(ctx.cluster, 'output', (pid): ProcessOutput => {
    const exit = find(pid).exit;
    return { ...ctx.outputs.get(pid), ...(exit !== undefined ? { status: exit.status, exitReason: exit.reason } : {}) };
  });
  const checkpoint = atOwner(ctx.cluster, 'checkpoint', (pid) => {
    const proc = find(pid);
    if (proc.exit !== undefined) throw new KernelError('ESRCH', `process ${proc.pid} has exited`);
    return kernel.checkpointNow(proc);
  });

  app.get('/v1/processes', { schema: { summary: 'List processes (ps); in a cluster, every node\'s', response: { 200: { type: 'array', items: PROCESS }, '5xx': PROBLEM } } }, async (_req, reply) => {
    if (ctx.cluster === undefined) return kernel.ps();
    try {
      return await ctx.cluster.ps();
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post<{ Body: SpawnBody }>(
    '/v1/processes',
    { schema: { summary: 'Spawn a program as a process', body: SPAWN_BODY, response: { 201: { type: 'object', properties: { pid: { type: 'integer' }, agentId: { type: 'string' } } }, '4xx': PROBLEM } } },
    async (req, reply) => {
      if (!ctx.accepting) return reply.code(503).send({ error: 'agentd is shutting down' });
      try {
        const { bind, ...sinks } = ctx.outputs.sinks();
        // Built and compiled off the event loop: a large or broken source never holds agentd.
        const filename = req.body.filename ?? 'agent.ts';
        // A program agentctl built arrives as JavaScript with its map: compiling it again as TypeScript changed what some
        // JavaScript means (`(a<b)>(c)` read as a generic call: a review).
        const program = req.body.source_map !== undefined ? builtProgram(filename, req.body.source, req.body.source_map) : await buildProgram(filename, req.body.source);
        const proc = await kernel.spawnAsync(program, { argv: req.body.argv ?? [], manifest: req.body.manifest ?? {}, ...sinks });
        bind(proc.pid);
        // In a cluster the spawn is acknowledged only once every node can see it.
        await ctx.cluster?.announce(proc.info()).catch((err: unknown) => {
          kernel.die(proc, 'SIGKILL', 'its directory entry could not be written');
          throw err;
        });
        return reply.code(201).send({ pid: proc.pid, agentId: proc.agentId });
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );

  app.get<{ Params: { pid: number } }>('/v1/processes/:pid', { schema: { summary: 'One process (in a cluster, on any node)', params: PID_PARAMS, response: { 200: PROCESS, '4xx': PROBLEM } } }, async (req, reply) => {
    try {
      if (ctx.cluster !== undefined && kernel.get(req.params.pid) === undefined) return await ctx.cluster.process(req.params.pid);
      return kernel.describe(find(req.params.pid));
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get<{ Params: { pid: number } }>(
    '/v1/processes/:pid/output',
    { schema: { summary: 'The last 64 KiB the process wrote to stdout and stderr, and once it has exited its status and why (in a cluster, asked of the node that runs it)', params: PID_PARAMS, response: { 200: OUTPUT, '4xx': PROBLEM, '5xx': PROBLEM } } },
    async (req, reply) => {
      try {
        return await output(req.params.pid, {});
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );

  const signalTree = atOwner(ctx.cluster, 'signal.tree', (pid, { signal }: { signal: SignalName }, via) => kernel.signalTree(pid, signal, via === undefined ? 'operator' : `operator@${via}`));

  app.post<{ Params: { pid: number }; Body: { signal: string | number; tree?: boolean } }>(
    '/v1/processes/:pid/signal',
    {
      schema: {
        summary: "Send a signal (name or number); with tree, to every live process of the pid's tree (its root and all it spawned)",
        params: PID_PARAMS,
        body: { type: 'object', required: ['signal'], additionalProperties: false, properties: { signal: { type: ['string', 'integer'] }, tree: { type: 'boolean' } } },
        response: {
          200: {
            type: 'object',
            properties: { outcome: { type: 'string' }, tree: { type: 'array', items: { type: 'object', properties: { pid: { type: 'integer' }, outcome: { type: 'string' } } } } },
          },
          '4xx': PROBLEM,
        },
      },
    },
    async (req, reply) => {
      const signal = parseSignal(String(req.body.signal));
      if (signal === undefined) return reply.code(400).send({ error: `unknown signal '${String(req.body.signal)}'`, errno: 'EINVAL' });
      try {
        if (req.body.tree === true) {
          const tree = await signalTree(req.params.pid, { signal });
          return { outcome: tree.find((t) => t.pid === req.params.pid)?.outcome ?? 'exited', tree };
        }
        // A pid this node does not run is relayed to the node that does.
        if (ctx.cluster !== undefined && kernel.get(req.params.pid) === undefined) return { outcome: await ctx.cluster.signal(req.params.pid, signal, 'operator') };
        return { outcome: kernel.kill(req.params.pid, signal, 'operator') };
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );

  app.post<{ Params: { pid: number } }>(
    '/v1/processes/:pid/checkpoint',
    { schema: { summary: 'Checkpoint the agent memory of a process (as SIGUSR1 without a handler; in a cluster, on the node that runs it)', params: PID_PARAMS, response: { '4xx': PROBLEM, '5xx': PROBLEM } } },
    async (req, reply) => {
      try {
        return await checkpoint(req.params.pid, {});
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );
}
