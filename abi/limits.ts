/**
 * The argument limits of the ABI: what one syscall may carry across the
 * boundary. The syscall table's decoders, the VFS's path rules and the
 * runtime's copy of arguments all read them here.
 */

/** Limits on what one syscall may carry across the boundary. */
export const ARG_LIMITS = {
  pathBytes: 4096,
  /**
   * Components of a resolved path. A Redis mount's stat and mkdir look at
   * each one (an attacker pass: 2,000 components cost Redis ~10 ms a call,
   * uncharged, and 64 such calls at once held it near 100%).
   */
  pathDepth: 128,
  /**
   * UTF-8 bytes of one path component, as Linux's NAME_MAX. A name is kept
   * in the tree but not counted against the quota's bytes (an attacker pass:
   * 8,000 names of 4 KiB held 87 MB of the kernel's memory at 0 bytes used).
   */
  nameBytes: 255,
  ioBytes: 1 << 20,
  jsonDepth: 16,
  jsonKeys: 256,
  stringBytes: 64 * 1024,
  /** All the strings, keys and values of one structured argument together (UTF-16 units, 8 per other value). */
  jsonBytes: 1 << 20,
} as const;

/**
 * ARGUMENT_BOUNDS is what the runtime lets cross in one syscall's arguments
 * (the host copies them before the kernel decodes them): a little more than
 * the largest arguments the table accepts.
 */
export const ARGUMENT_BOUNDS = {
  argUnits: ARG_LIMITS.ioBytes + ARG_LIMITS.jsonBytes + 4 * ARG_LIMITS.stringBytes,
  argNodes: ARG_LIMITS.jsonBytes / 8 + 4096,
  argDepth: ARG_LIMITS.jsonDepth + 2,
} as const;
