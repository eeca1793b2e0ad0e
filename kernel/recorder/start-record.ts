/**
 * The record a kernel writes when it starts: what a replay of the log needs
 * to know (kernel/replay), since the engine's counters live as long as the
 * kernel does. Rule limits start from zero with the kernel, unless the
 * cluster counts them (they then outlive any one node); intent contracts'
 * counters always start from zero.
 */

const PREFIX = 'kernel started';

/** startDetail is the start record's detail. */
export function startDetail(policyVersion: string, limitsByCluster: boolean): string {
  return `${PREFIX} with policy ${policyVersion}: rule limits counted ${limitsByCluster ? 'by the cluster' : 'here, from zero'}; contract counters from zero`;
}

/** readStart says whether a record's detail is a kernel's start, and where its rule limits were counted. */
export function readStart(type: unknown, detail: unknown): { readonly limits: 'here' | 'cluster' } | undefined {
  if (type !== 'policy' || typeof detail !== 'string' || !detail.startsWith(PREFIX)) return undefined;
  return { limits: detail.includes('rule limits counted by the cluster') ? 'cluster' : 'here' };
}
