/**
 * MountTable maps absolute prefixes to backends. Lookup picks the longest
 * mount point that contains the path and hands the backend only the part
 * below it; a path under no mount point is outside the namespace (EACCES).
 */
import { KernelError } from '../abi/errno.ts';
import type { VfsBackend } from './backend.ts';
import { isWithin, relativeTo } from './path.ts';

export interface Mount {
  /** Absolute, normalised mount point. */
  readonly point: string;
  readonly backend: VfsBackend;
  readonly readOnly: boolean;
}

export interface MountHit {
  readonly mount: Mount;
  /** The path within the backend, starting with `/`. */
  readonly inner: string;
}

export class MountTable {
  private readonly mounts: Mount[] = [];

  mount(point: string, backend: VfsBackend, options: { readOnly?: boolean } = {}): void {
    if (this.mounts.some((m) => m.point === point)) throw new KernelError('EEXIST', `already mounted: ${point}`);
    this.mounts.push({ point, backend, readOnly: options.readOnly ?? false });
    this.mounts.sort((a, b) => b.point.length - a.point.length);
  }

  /** list returns the mounts, longest mount point first. */
  list(): readonly Mount[] {
    return this.mounts;
  }

  /** lookup finds the mount for a normalised absolute path. */
  lookup(path: string): MountHit {
    for (const mount of this.mounts) {
      if (isWithin(mount.point, path)) return { mount, inner: relativeTo(mount.point, path) };
    }
    throw new KernelError('EACCES', `outside the agent's namespace: ${path}`);
  }

  /** childMounts lists mount points directly below `path`, shown by readdir. */
  childMounts(path: string): string[] {
    const names: string[] = [];
    for (const mount of this.mounts) {
      if (mount.point === path || !isWithin(path, mount.point)) continue;
      const rest = relativeTo(path, mount.point).slice(1);
      if (!rest.includes('/')) names.push(rest);
    }
    return names;
  }
}
