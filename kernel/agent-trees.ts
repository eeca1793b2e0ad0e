/**
 * AgentTrees keeps every agent's VFS tree: made on first use with the
 * standard layout, the kernel's mounts, the read-only policy/ view and a
 * quota (bytes and inodes) shared by the tree's memfs backends; seeded with
 * the agent's saved checkpoints when the kernel keeps a state dir; and, when
 * a retention time is set, released that long after the agent's last
 * process left the process table, so a long-running kernel does not keep
 * every agent it ever ran (its checkpoints stay on the host).
 */
import { AgentVfs } from '../vfs/agent-vfs.ts';
import { MemfsBackend } from '../vfs/memfs-backend.ts';
import { Quota } from '../vfs/quota.ts';
import { StaticBackend } from '../vfs/static-backend.ts';
import { loadHostCheckpoints } from './checkpoint.ts';
import { agentMounts, type KernelMount } from './mounts.ts';

export interface AgentTreesOptions {
  readonly mounts: readonly KernelMount[];
  readonly stateDir?: string;
  /** How long a tree outlives its agent's last process, ms; kept for the kernel's life if absent. */
  readonly retentionMs?: number;
  /** The files shown read-only under policy/ (the policy in force and its version). */
  readonly policyFiles: () => Readonly<Record<string, string>>;
}

/** TreeQuota is the bound a new tree gets. */
export interface TreeQuota {
  readonly bytes: number;
  readonly inodes: number;
}

interface Tree {
  readonly vfs: AgentVfs;
  readonly quota: Quota;
  /** Settles when the layout exists and saved checkpoints are loaded. */
  readonly ready: Promise<void>;
  /** Processes of the agent in the process table. */
  holders: number;
  release: NodeJS.Timeout | undefined;
}

export class AgentTrees {
  private readonly options: AgentTreesOptions;
  private readonly trees = new Map<string, Tree>();

  constructor(options: AgentTreesOptions) {
    this.options = options;
  }

  private tree(agentId: string, bound: TreeQuota): Tree {
    let tree = this.trees.get(agentId);
    if (tree !== undefined) return tree;
    const quota = new Quota(bound.bytes, bound.inodes);
    const policy = new StaticBackend(this.options.policyFiles);
    const vfs = new AgentVfs(agentId, { root: new MemfsBackend(quota), policy, mounts: agentMounts(this.options.mounts, agentId, quota) });
    const stateDir = this.options.stateDir;
    const ready = stateDir === undefined ? vfs.ready : vfs.ready.then(() => loadHostCheckpoints(vfs, agentId, stateDir, bound));
    tree = { vfs, quota, ready, holders: 0, release: undefined };
    this.trees.set(agentId, tree);
    return tree;
  }

  /** vfs returns agent `agentId`'s tree, making it (bounded by `bound`) on first use. */
  vfs(agentId: string, bound: TreeQuota): AgentVfs {
    return this.tree(agentId, bound).vfs;
  }

  /** ready settles when the tree's layout exists and its saved checkpoints are loaded. */
  ready(agentId: string, bound: TreeQuota): Promise<void> {
    return this.tree(agentId, bound).ready;
  }

  /** usage is what the tree holds and may hold, or undefined if there is none. */
  usage(agentId: string): { bytes: number; inodes: number; maxBytes: number; maxInodes: number } | undefined {
    const q = this.trees.get(agentId)?.quota;
    return q === undefined ? undefined : { bytes: q.bytes, inodes: q.inodes, maxBytes: q.maxBytes, maxInodes: q.maxInodes };
  }

  /** hold marks a process of `agentId` (being spawned, or in the process table): its tree stays. The tree, made on first use. */
  hold(agentId: string, bound: TreeQuota): AgentVfs {
    const tree = this.tree(agentId, bound);
    tree.holders++;
    if (tree.release !== undefined) {
      clearTimeout(tree.release);
      tree.release = undefined;
    }
    return tree.vfs;
  }

  /** unhold marks one such process gone; the last one starts the retention clock. */
  unhold(agentId: string): void {
    const tree = this.trees.get(agentId);
    if (tree === undefined || --tree.holders > 0) return;
    const ms = this.options.retentionMs;
    if (ms === undefined) return;
    tree.release = setTimeout(() => {
      if (tree.holders === 0 && this.trees.get(agentId) === tree) this.trees.delete(agentId);
    }, ms);
    tree.release.unref();
  }

  /** count is the number of trees kept. */
  get count(): number {
    return this.trees.size;
  }
}
