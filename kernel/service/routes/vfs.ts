/**
 * VFS of a process's agent: ls, cat, checkpoints. Operator reads bypass the
 * agent's policy but stay inside its tree. In a cluster, a pid of another
 * node is answered by that node (its agent's tree is there).
 */
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../../../abi/errno.ts';
import type { DirEntry } from '../../../vfs/backend.ts';
import { readAll } from '../../checkpoint.ts';
import { atOwner } from '../../cluster/process-calls.ts';
import type { ServiceContext } from '../context.ts';
import { noProcess, PID_PARAMS, PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';

const MAX_CAT = 1 << 20;

interface PathQuery {
  path?: string;
}

export function vfsRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const treeOf = (pid: number) => {
    const proc = ctx.kernel.get(pid);
    if (proc === undefined) throw noProcess(pid, ctx.config);
    const vfs = ctx.kernel.vfs(proc.agentId);
    return { vfs, resolve: (path: string) => vfs.resolve(path) };
  };
  const pathQuery = { type: 'object', properties: { path: { type: 'string', maxLength: 4096 } } } as const;

  // Each runs on the node that runs the pid (relayed like signals), here when agentd runs alone.
  const ls = atOwner(ctx.cluster, 'vfs.ls', async (pid, query: PathQuery): Promise<{ path: string; entries: DirEntry[] }> => {
    const { vfs, resolve } = treeOf(pid);
    const path = resolve(query.path ?? '.');
    return { path, entries: await vfs.readdir(path) };
  });
  const cat = atOwner(ctx.cluster, 'vfs.cat', async (pid, query: PathQuery) => {
    const { vfs, resolve } = treeOf(pid);
    if (query.path === undefined) throw new KernelError('EINVAL', 'path is required');
    const path = resolve(query.path);
    const { file } = await vfs.open(path, 'r');
    try {
      const size = await file.size();
      const data = await file.read(Math.min(size, MAX_CAT), 0);
      return { path, size, truncated: size > MAX_CAT, text: new TextDecoder().decode(data) };
    } finally {
      await file.close();
    }
  });
  const checkpoints = atOwner(ctx.cluster, 'vfs.checkpoints', async (pid) => {
    const { vfs } = treeOf(pid);
    const dir = `${vfs.root}/state/checkpoints`;
    const numbered = (await vfs.readdir(dir)).filter((e) => e.type === 'dir' && /^[1-9]\d{0,8}$/.test(e.name));
    const manifests: unknown[] = [];
    for (const e of numbered) {
      // A checkpoint without a readable manifest is listed as such, not a reason to fail the whole answer.
      try {
        manifests.push(JSON.parse(new TextDecoder().decode(await readAll(vfs, `${dir}/${e.name}/manifest.json`))));
      } catch (err) {
        manifests.push({ n: Number(e.name), error: `no readable manifest.json: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
    return manifests;
  });

  app.get<{ Params: { pid: number }; Querystring: PathQuery }>(
    '/v1/processes/:pid/vfs/ls',
    { schema: { summary: "List a directory of the process's agent tree (path relative to /agent/<id>)", params: PID_PARAMS, querystring: pathQuery, response: { '4xx': PROBLEM, '5xx': PROBLEM } } },
    async (req, reply) => {
      try {
        return await ls(req.params.pid, { path: req.query.path });
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );

  app.get<{ Params: { pid: number }; Querystring: PathQuery }>(
    '/v1/processes/:pid/vfs/cat',
    { schema: { summary: 'Read a file of the agent tree as UTF-8 text (at most 1 MiB)', params: PID_PARAMS, querystring: pathQuery, response: { '4xx': PROBLEM, '5xx': PROBLEM } } },
    async (req, reply) => {
      try {
        return await cat(req.params.pid, { path: req.query.path });
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );

  app.get<{ Params: { pid: number } }>(
    '/v1/processes/:pid/checkpoints',
    { schema: { summary: "The agent's checkpoints with their manifests", params: PID_PARAMS, response: { '4xx': PROBLEM, '5xx': PROBLEM } } },
    async (req, reply) => {
      try {
        return await checkpoints(req.params.pid, {});
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );
}
