/**
 * The policy an operator put in force on a single agentd (`agentctl policy
 * set`, a promoted shadow) outlives agentd: it is kept in the state dir
 * (policy-set.json: the source, its file name and version, and the version of
 * the configured policy it replaced) before it takes effect, and the next
 * start puts it back in force — an emergency tightening is not undone by a
 * crash (an attacker pass: after a kill -9, agentd came back on its
 * configured policy and nothing said the replacement was dropped). If the
 * configured policy changed since (the operator edited the configuration's
 * policy file), that one wins and the kept one is dropped, recorded. A kept
 * policy that no longer loads stops agentd from starting (naming the file
 * and the error): it never starts on a policy other than the last one in
 * force without saying so. A cluster keeps its policy in Redis instead.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import { parsePolicy, PolicyError, type LoadedPolicy } from '../policy/load.ts';
import { readRegularText } from '../regular-file.ts';
import { writeStateFile } from './state-file.ts';

/** The kept policy's file in the state dir. */
export const POLICY_STATE_FILE = 'policy-set.json';

/** The most bytes of a kept policy (the policy route's body limit, with room for the JSON around it). */
const MAX_STATE_BYTES = 20 * 1024 * 1024;

interface KeptPolicy {
  readonly source: string;
  readonly file: string;
  readonly version: string;
  /** The version of the configured policy when this one was set. */
  readonly over: string;
  /** When it was set (ms since the epoch). */
  readonly at: number;
}

/** Starting is the policy agentd starts with, and what the log should say about a kept one (undefined: none was kept). */
export interface Starting {
  readonly policy: LoadedPolicy;
  readonly note?: string;
}

export class PolicyState {
  private readonly path: string;
  /** The configured policy's version (the built-in default's without one). */
  private readonly configured: string;

  constructor(stateDir: string, configured: string) {
    this.path = join(stateDir, POLICY_STATE_FILE);
    this.configured = configured;
  }

  /** keep stores `policy` as the one in force, before it takes effect; EIO when it cannot be stored (then it must not take effect). */
  keep(policy: LoadedPolicy): void {
    const kept: KeptPolicy = { source: policy.source, file: policy.file, version: policy.version, over: this.configured, at: Date.now() };
    try {
      writeStateFile(this.path, `${JSON.stringify(kept)}\n`);
    } catch (err) {
      throw new KernelError('EIO', `cannot keep the policy in ${this.path} for the next start (${(err as NodeJS.ErrnoException).code ?? String(err)}), so it is not put in force`);
    }
  }

  /**
   * starting is `configured` (the configuration's policy) unless a policy
   * set over that same configured policy is kept; PolicyError (naming the
   * state file) if the kept one no longer loads.
   */
  starting(configured: LoadedPolicy): Starting {
    let text: string;
    try {
      text = readRegularText(this.path, MAX_STATE_BYTES, 'kept policy');
    } catch (err) {
      if (err instanceof KernelError && err.errno === 'ENOENT') return { policy: configured };
      throw new PolicyError(this.path, 0, 0, '', `the policy agentctl policy set put in force cannot be read (${err instanceof Error ? err.message : String(err)}); remove the file to start with the configured policy`);
    }
    let kept: KeptPolicy;
    try {
      kept = JSON.parse(text) as KeptPolicy;
      if (typeof kept.source !== 'string' || typeof kept.over !== 'string' || typeof kept.file !== 'string') throw new Error('fields are missing');
    } catch (err) {
      throw new PolicyError(this.path, 0, 0, '', `the policy agentctl policy set put in force cannot be read (${err instanceof Error ? err.message : String(err)}); remove the file to start with the configured policy`);
    }
    const when = new Date(kept.at).toISOString();
    if (kept.over !== configured.version) {
      rmSync(this.path, { force: true });
      return { policy: configured, note: `policy ${kept.version} set at ${when} dropped: the configured policy changed since (${kept.over} -> ${configured.version}), and is the one in force` };
    }
    let policy: LoadedPolicy;
    try {
      policy = parsePolicy(kept.source, kept.file);
    } catch (err) {
      throw new PolicyError(this.path, 0, 0, '', `the policy set at ${when} (${kept.file}) no longer loads: ${err instanceof Error ? err.message : String(err)}; remove the file to start with the configured policy`);
    }
    return { policy, note: `policy ${policy.version} set at ${when} (${kept.file}) kept in force across the restart, over the configured ${configured.version}` };
  }
}
