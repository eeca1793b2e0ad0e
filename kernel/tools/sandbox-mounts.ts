/**
 * What a sandboxed command tool sees of the host's filesystem, as bubblewrap
 * arguments. The system (/usr, /etc and the /bin, /sbin, /lib* directories or
 * their merged-/usr symlinks) is bound read-only, with a fresh /proc and a
 * minimal /dev; nothing else of the host is there unless bound (not /home,
 * /root, /var, /run, /srv, /opt, /mnt or the host's /tmp). Hidden paths (the
 * kernel's state, the host's password hashes and private keys under /etc,
 * and whatever else under /etc other users may not read) are covered
 * wherever a bound directory would show them: an empty read-only tmpfs over
 * a directory, /dev/null over a file. The sandbox runs as the kernel's own
 * user, so a file only that user may read is no secret to a tool unless it
 * is hidden: an attacker pass read a webhook secret (0600, in a 0700
 * directory under /etc) from a command tool.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { KernelError } from '../../abi/errno.ts';

/** Bind is one host path shown read-only at `dest`; `real` is its resolved host path. */
export interface Bind {
  readonly real: string;
  readonly dest: string;
}

/** SANDBOX_PATH is PATH inside the sandbox unless the tool sets its own. */
export const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';

const SYSTEM = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];
/** Secrets of the host under /etc that no tool needs (ssh host keys are added when present; so is anything other users may not read). */
const ETC_SECRETS = ['/etc/shadow', '/etc/shadow-', '/etc/gshadow', '/etc/gshadow-', '/etc/sudoers', '/etc/sudoers.d', '/etc/ssl/private', '/etc/security/opasswd'];
/** The most entries of /etc looked at for private ones (a Debian system has a few thousand). */
const ETC_SCAN = 50_000;

/**
 * etcPrivate lists what under /etc other users may not read (no o+r): what
 * the host keeps from its other users, a tool does not see either. Links are
 * not followed (what they reach is judged where it is, if under /etc); a
 * directory that is hidden is not looked into.
 */
function etcPrivate(): string[] {
  const found: string[] = [];
  const dirs = ['/etc'];
  let seen = 0;
  for (let dir = dirs.pop(); dir !== undefined && seen < ETC_SCAN; dir = dirs.pop()) {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (++seen > ETC_SCAN) break;
      if (entry.isSymbolicLink()) continue;
      const path = join(dir, entry.name);
      let mode: number | undefined;
      try {
        mode = lstatSync(path, { throwIfNoEntry: false })?.mode;
      } catch {
        // Not ours to look at (a directory we may list but not enter): a tool, as this user, cannot reach it either.
        continue;
      }
      if (mode === undefined) continue;
      if ((mode & 0o004) === 0) found.push(path);
      else if (entry.isDirectory()) dirs.push(path);
    }
  }
  return found;
}

let system: { args: readonly string[]; binds: readonly Bind[]; visible: readonly Bind[]; secrets: readonly string[]; private: readonly string[] } | undefined;

function systemLayout(): NonNullable<typeof system> {
  if (system !== undefined) return system;
  const args: string[] = [];
  const binds: Bind[] = [];
  const links: Bind[] = [];
  for (const dir of SYSTEM) {
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.isSymbolicLink()) {
      args.push('--symlink', readlinkSync(dir), dir);
      const real = realOrUndefined(dir);
      if (real !== undefined) links.push({ real, dest: dir });
    } else if (st.isDirectory()) {
      args.push('--ro-bind', dir, dir);
      binds.push({ real: realpathSync(dir), dest: dir });
    }
  }
  args.push('--proc', '/proc', '--dev', '/dev');
  let sshKeys: string[] = [];
  try {
    sshKeys = readdirSync('/etc/ssh').filter((f) => /^ssh_host_.*_key$/.test(f)).map((f) => `/etc/ssh/${f}`);
  } catch {
    // no /etc/ssh
  }
  const secrets = [...ETC_SECRETS, ...sshKeys];
  system = { args, binds, visible: [...binds, ...links], secrets, private: etcPrivate().filter((p) => !secrets.includes(p)) };
  return system;
}

/** systemMounts returns the bwrap arguments for the read-only system, /proc and /dev. */
export function systemMounts(): readonly string[] {
  return systemLayout().args;
}

/** systemPaths returns the system directories visible in the sandbox: those bound, and the merged-/usr links into them. */
export function systemPaths(): readonly Bind[] {
  return systemLayout().visible;
}

/** within says whether `path` is `dir` or below it (both resolved). */
export function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** realOrUndefined is the real path of `path`, or undefined if it (or a link on the way) does not exist. */
export function realOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * hiddenReal is the real path of a hidden path, or undefined when it does
 * not exist (there is nothing to see). Any other failure to resolve it is
 * EACCES: a path the kernel cannot resolve cannot be proved hidden.
 */
function hiddenReal(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new KernelError('EACCES', `cannot resolve ${path}, which is hidden from tools: ${code ?? String(err)}`);
  }
}

/** hiddenAbove returns the hidden path `bind` lies in (or is), or undefined. EACCES as hiddenReal. */
export function hiddenAbove(bind: Bind, hidden: readonly string[]): string | undefined {
  return hidden.find((path) => {
    const real = hiddenReal(path);
    return real !== undefined && within(bind.real, real);
  });
}

/**
 * hideArgs returns the bwrap arguments that cover each hidden path (and the
 * host's /etc secrets) wherever one of `binds` (or the system) would show
 * it. Paths that do not exist are skipped: there is nothing to see. EACCES if
 * a bound path lies inside a hidden one (hiding it would hide the tool's own
 * files, showing it would show the hidden ones) or a hidden path cannot be
 * resolved.
 */
export function hideArgs(binds: readonly Bind[], hidden: readonly string[]): string[] {
  const all = [...systemLayout().binds, ...binds];
  const found: { path: string; real: string; directory: boolean }[] = [];
  // What /etc keeps from other users is hidden unless the operator binds it, or something in it, for the tool (cwd,
  // read_only): that is the operator's own choice (a review: a cwd in such a directory failed every call).
  const candidates = [...[...systemLayout().secrets, ...hidden].map((path) => ({ path, unlessBound: false })), ...systemLayout().private.map((path) => ({ path, unlessBound: true }))];
  for (const { path, unlessBound } of candidates) {
    const real = hiddenReal(path);
    if (real === undefined || (unlessBound && binds.some((b) => within(b.real, real)))) continue;
    found.push({ path, real, directory: statSync(real, { throwIfNoEntry: false })?.isDirectory() ?? false });
  }
  // A path inside a hidden directory is already covered (and its mount point would be on the read-only cover).
  const covers = found.filter((h) => !found.some((o) => o.directory && o.real !== h.real && within(h.real, o.real)));
  const args: string[] = [];
  const done = new Set<string>();
  for (const { path, real, directory } of covers) {
    for (const bind of all) {
      if (within(bind.real, real)) throw new KernelError('EACCES', `${bind.dest} lies inside ${path}, which is hidden from tools`);
      if (!within(real, bind.real)) continue;
      const inside = join(bind.dest, relative(bind.real, real));
      if (done.has(inside)) continue;
      done.add(inside);
      if (directory) args.push('--tmpfs', inside, '--remount-ro', inside);
      else args.push('--ro-bind', '/dev/null', inside);
    }
  }
  return args;
}
