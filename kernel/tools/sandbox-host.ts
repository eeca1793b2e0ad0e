/**
 * sandboxHost finds the two host programs command tools run under:
 * bubblewrap (`bwrap`: namespaces, mounts, a clean environment) and
 * util-linux's `prlimit` (CPU and memory rlimits set before bwrap starts, so
 * they bind every process in the sandbox). Both are looked up once on the
 * kernel's PATH and used by absolute path afterwards. bwrap is then run once
 * with the sandbox's own options, so a host that forbids the namespaces it
 * needs fails here, at configuration time, rather than on every call.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import { SANDBOX_PATH, systemMounts } from './sandbox-mounts.ts';

export interface SandboxHost {
  /** Absolute path of bwrap. */
  readonly bwrap: string;
  /** Absolute path of prlimit. */
  readonly prlimit: string;
}

/** findProgram returns the first executable `name` in the directories of `path`, or undefined. */
export function findProgram(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '' || !dir.startsWith('/')) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

let found: SandboxHost | KernelError | undefined;

/**
 * sandboxHost returns where bwrap and prlimit are. ENOENT when either is not
 * installed (the message names the package); EPERM when bwrap is there but
 * cannot make its sandbox on this host (its own error follows). The answer is
 * kept for the life of the process.
 */
export function sandboxHost(): SandboxHost {
  found ??= locate();
  if (found instanceof KernelError) throw found;
  return found;
}

function locate(): SandboxHost | KernelError {
  const path = process.env.PATH ?? '/usr/bin:/bin';
  const bwrap = findProgram('bwrap', path);
  if (bwrap === undefined) return new KernelError('ENOENT', 'bubblewrap (bwrap) is not installed, and command tools run under it: install it (apt-get install bubblewrap, dnf install bubblewrap) or set sandbox: false for the tool (unsafe: the program then runs unconfined, with the kernel\'s own rights)');
  const prlimit = findProgram('prlimit', path);
  if (prlimit === undefined) return new KernelError('ENOENT', 'prlimit (util-linux) is not installed, and sets the CPU and memory limits of sandboxed command tools: install util-linux');
  const probe = spawnSync(bwrap, [...systemMounts(), '--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--clearenv', '--setenv', 'PATH', SANDBOX_PATH, '--', 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0) {
    const why = (probe.stderr ?? '').trim() || probe.error?.message || `exit ${probe.status ?? probe.signal}`;
    return new KernelError('EPERM', `bubblewrap (${bwrap}) cannot make a sandbox on this host: ${why.slice(0, 500)} (user namespaces may be disabled)`);
  }
  return { bwrap, prlimit };
}
