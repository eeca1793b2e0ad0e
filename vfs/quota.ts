/**
 * Quota bounds what one tree of files may hold: bytes of file data and
 * inodes (files and directories). A backend reserves before it grows and
 * releases what it frees; a reservation past either bound is ENOSPC and
 * changes nothing. One Quota is shared by every backend of an agent's tree
 * that keeps its data in the kernel's memory, so an agent cannot fill the
 * kernel by spreading its files over mounts.
 */
import { KernelError } from '../abi/errno.ts';

export class Quota {
  readonly maxBytes: number;
  readonly maxInodes: number;
  private usedBytes = 0;
  private usedInodes = 0;

  constructor(maxBytes: number, maxInodes: number) {
    this.maxBytes = maxBytes;
    this.maxInodes = maxInodes;
  }

  /** unlimited is a quota that never refuses (for trees nobody needs to bound, such as a test's). */
  static unlimited(): Quota {
    return new Quota(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  get bytes(): number {
    return this.usedBytes;
  }

  get inodes(): number {
    return this.usedInodes;
  }

  /** reserve takes `bytes` and `inodes` or throws ENOSPC naming the bound (the caller names the path). */
  reserve(bytes: number, inodes: number): void {
    if (bytes > 0 && this.usedBytes + bytes > this.maxBytes) {
      throw new KernelError('ENOSPC', `the write would take the tree past its quota of ${this.maxBytes} bytes (${this.usedBytes} used)`);
    }
    if (inodes > 0 && this.usedInodes + inodes > this.maxInodes) {
      throw new KernelError('ENOSPC', `the tree is at its quota of ${this.maxInodes} files and directories`);
    }
    this.usedBytes += bytes;
    this.usedInodes += inodes;
  }

  /** release gives back what a removal or truncation freed. */
  release(bytes: number, inodes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
    this.usedInodes = Math.max(0, this.usedInodes - inodes);
  }
}
