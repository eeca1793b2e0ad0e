/**
 * Capabilities an agent is spawned with (its manifest), checked before policy,
 * cheapest first. Forms:
 *   tool:<name or glob>            may call that tool through SYS_EXEC
 *   vfs:<absolute prefix>:ro|rw    may read (ro) or read and write (rw) below a
 *                                  prefix outside its own tree, if mounted
 *   signal:children | signal:any   may signal its children, or any process
 * An agent's own tree needs no capability. A child never holds a capability
 * its parent lacks.
 */
import type { Autonomy } from './autonomy.ts';
import { KernelError } from '../abi/errno.ts';
import type { AgentIdentity } from '../syscalls/context.ts';
import type { Access } from '../abi/kinds.ts';
import { agentRoot } from '../vfs/agent-vfs.ts';
import { isWithin } from '../vfs/path.ts';
import { globTest, type StringTest } from './policy/matchers.ts';

export interface AgentManifest {
  readonly id: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly capabilities?: readonly string[];
  /** How much the agent may do without a human (kernel/autonomy.ts); default full. */
  readonly autonomy?: Autonomy;
}

/** IdentityOptions says where in its tree a process stands. */
export interface IdentityOptions {
  /** Spawned by another process of its tree (it runs as the tree's root agent). */
  readonly child?: boolean;
  /** An agent outside the kernel calling its tools (the MCP gateway for a credential): its breakers are its own (breakerOf). */
  readonly outside?: boolean;
}

/** The agent ids the kernel runs, as a JSON Schema `pattern` (an API that names an agent checks it so). */
export const AGENT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const AGENT_ID = new RegExp(AGENT_ID_PATTERN);

/** isAgentId: `id` is an agent id the kernel runs: letters, digits, '.', '_' and '-', at most 64, a letter or digit first. */
export const isAgentId = (id: string): boolean => AGENT_ID.test(id);

/**
 * spawnIdentity is who a new process is: a child runs as its tree's agent
 * (its id, and with it the tree, counters and rules, cannot be shed by
 * spawning), with capabilities its parent holds; a root takes the manifest's
 * id, the asked id, or `agent-<pid>`. EINVAL for a bad id or manifest, EPERM
 * for a capability the parent lacks.
 */
export function spawnIdentity(
  pid: number,
  options: { readonly agentId?: string; readonly manifest?: Partial<AgentManifest> },
  parent?: { readonly pid: number; readonly agentId: string; readonly identity: Identity | undefined },
): Identity {
  const id = parent?.agentId ?? options.manifest?.id ?? options.agentId ?? `agent-${pid}`;
  if (!AGENT_ID.test(id)) throw new KernelError('EINVAL', `bad agent id '${id}': use letters, digits, '.', '_' and '-'`);
  const asked = options.manifest?.capabilities === undefined ? undefined : [...new Set(options.manifest.capabilities)];
  if (parent !== undefined) {
    if (parent.identity === undefined) throw new KernelError('ESRCH', `parent pid ${parent.pid} has no identity: it has ended`);
    // What a child asks is checked against what its parent holds before any of it is compiled: the patterns a child
    // then compiles are its parent's own (found by an attacker pass: 256 glob capabilities, compiled and then refused,
    // held the kernel's loop 25-90 ms a spawn).
    for (const cap of asked ?? []) malformed(cap);
    const missing = parent.identity.covers(asked ?? []);
    if (missing !== undefined) throw new KernelError('EPERM', `capability ${missing} is not held by parent pid ${parent.pid}`);
  }
  return new Identity({ id, labels: options.manifest?.labels, capabilities: asked }, { child: parent !== undefined });
}

/** malformed throws EINVAL for a capability that is not one (tool:NAME, vfs:/PREFIX:ro|rw, signal:children|any). */
function malformed(cap: string): void {
  if (typeof cap !== 'string' || !CAPABILITY.test(cap)) throw new KernelError('EINVAL', `malformed capability '${String(cap)}' (tool:NAME, vfs:/PREFIX:ro|rw, signal:children|any)`);
}

const CAPABILITY = /^(tool:[A-Za-z0-9_.*?:-]{1,256}|vfs:\/[^\0]{0,4095}:(ro|rw)|signal:(children|any))$/;

interface VfsGrant {
  readonly prefix: string;
  readonly write: boolean;
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/;

/** Identity is an agent's manifest, parsed: what the authorizer checks capabilities against. */
export class Identity implements AgentIdentity {
  readonly agentId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: ReadonlySet<string>;
  readonly child: boolean;
  readonly outside: boolean;
  private readonly root: string;
  private readonly tools: StringTest[] = [];
  private readonly vfs: VfsGrant[] = [];

  /** Identity parses a manifest; EINVAL names the first malformed capability or label. */
  constructor(manifest: AgentManifest, options: IdentityOptions = {}) {
    const capabilities = manifest.capabilities ?? [];
    this.agentId = manifest.id;
    this.child = options.child ?? false;
    this.outside = options.outside ?? false;
    this.root = agentRoot(manifest.id);
    const labels: Record<string, string> = Object.create(null);
    for (const [key, value] of Object.entries(manifest.labels ?? {})) {
      if (!LABEL_KEY.test(key) || typeof value !== 'string' || value.length > 256) throw new KernelError('EINVAL', `malformed label '${key}'`);
      labels[key] = value;
    }
    this.labels = Object.freeze(labels);
    for (const cap of capabilities) {
      malformed(cap);
      if (cap.startsWith('tool:')) this.tools.push(globTest(cap.slice(5)));
      else if (cap.startsWith('vfs:')) {
        const prefix = cap.slice(4, -3).replace(/\/+$/, '') || '/';
        this.vfs.push({ prefix, write: cap.endsWith(':rw') });
      }
    }
    this.capabilities = new Set(capabilities);
  }

  /** pathAllowed: own tree always; elsewhere a vfs grant covering the path with the access needed. */
  pathAllowed(path: string, access: Access): boolean {
    if (isWithin(this.root, path)) return true;
    return this.vfs.some((g) => isWithin(g.prefix, path) && (access !== 'write' || g.write));
  }

  toolAllowed(tool: string): boolean {
    return this.tools.some((t) => t(tool));
  }

  /** covers returns the first capability in `child` this identity does not hold, if any. */
  covers(child: readonly string[]): string | undefined {
    for (const cap of child) {
      if (this.capabilities.has(cap)) continue;
      if (cap.startsWith('tool:') && !/[*?]/.test(cap) && this.toolAllowed(cap.slice(5))) continue;
      if (cap.startsWith('vfs:')) {
        const prefix = cap.slice(4, -3).replace(/\/+$/, '') || '/';
        if (this.vfs.some((g) => isWithin(g.prefix, prefix) && (g.write || cap.endsWith(':ro')))) continue;
      }
      if (cap === 'signal:children' && this.capabilities.has('signal:any')) continue;
      return cap;
    }
    return undefined;
  }
}

/**
 * OutsideIdentity is an agent outside the kernel asking agentd before it acts
 * (POST /v1/evaluate). The kernel confines nothing of such an agent: its
 * resources and tools are names of its own, not VFS paths or registered
 * tools, so no capability stage or kernel rule on paths can refuse them;
 * the capabilities the operator granted are what rules match on
 * (`capabilities:`). The breaker, the autonomy level, contracts and the
 * policy hold it as they hold an agent inside; its breakers are kept apart
 * from those of processes of the same agent id (breakerOf), its trust
 * score is theirs (one agent).
 */
export class OutsideIdentity implements AgentIdentity {
  readonly agentId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: ReadonlySet<string>;
  readonly child = false;
  readonly outside = true;

  constructor(agent: { readonly id: string; readonly labels: Readonly<Record<string, string>>; readonly capabilities: readonly string[] }) {
    this.agentId = agent.id;
    this.labels = agent.labels;
    this.capabilities = new Set(agent.capabilities);
  }

  pathAllowed(): boolean {
    return true;
  }

  toolAllowed(): boolean {
    return true;
  }
}
