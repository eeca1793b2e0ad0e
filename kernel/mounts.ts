/**
 * Kernel-wide mounts: parts of every agent's namespace whose backend the
 * operator chooses, e.g. `mem/semantic` on Redis (shared by every node)
 * while `mem/working` stays on the agent's memfs tree. A relative path is
 * inside each agent's own tree; an absolute one (`/shared`) is a place
 * outside the trees that an agent reaches only with a vfs capability.
 */
import { KernelError } from '../abi/errno.ts';
import type { VfsBackend } from '../vfs/backend.ts';
import { agentRoot } from '../vfs/agent-vfs.ts';
import type { Quota } from '../vfs/quota.ts';
import { isWithin, resolvePath } from '../vfs/path.ts';

export interface KernelMount {
  /** `mem/semantic` (in each agent's tree) or `/shared` (one place for every agent). */
  readonly path: string;
  /** The backend agent `agentId` sees there; called once per agent tree. A backend that keeps data in the kernel's memory charges it to `quota`, the agent's. */
  readonly backend: (agentId: string, quota: Quota) => VfsBackend;
  readonly readOnly?: boolean;
}

/** mountPoint is where `path` lands for agent `agentId`. EINVAL for a relative path that leaves the tree or names its root or policy/. */
export function mountPoint(path: string, agentId: string): string {
  const root = agentRoot(agentId);
  const point = resolvePath(root, path);
  if (!path.startsWith('/') && (point === root || !isWithin(root, point) || isWithin(`${root}/policy`, point))) {
    throw new KernelError('EINVAL', `mount path '${path}' must name a directory inside the agent's tree (not its root or policy/)`);
  }
  if (point === '/') throw new KernelError('EINVAL', "mount path '/' would hide every tree");
  return point;
}

/** checkMounts refuses a bad or repeated mount path before any agent runs. */
export function checkMounts(mounts: readonly KernelMount[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    const point = mountPoint(m.path, 'check');
    if (seen.has(point)) throw new KernelError('EINVAL', `mount path '${m.path}' is given twice`);
    seen.add(point);
  }
}

/** agentMounts builds agent `agentId`'s extra mounts for its AgentVfs. */
export function agentMounts(mounts: readonly KernelMount[], agentId: string, quota: Quota): { point: string; backend: VfsBackend; readOnly: boolean }[] {
  return mounts.map((m) => ({ point: mountPoint(m.path, agentId), backend: m.backend(agentId, quota), readOnly: m.readOnly ?? false }));
}
