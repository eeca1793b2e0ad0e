/**
 * The built-in default policy (default-policy.yaml beside this file): each
 * agent may use its own tree and its own fds, nothing else.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parsePolicy, type LoadedPolicy } from './load.ts';

/** Where the built-in default policy's file is (in the repository, or in the installed package's dist/). */
export const DEFAULT_POLICY_FILE = fileURLToPath(new URL('./default-policy.yaml', import.meta.url));

/** defaultPolicy loads (once) the built-in policy. */
export const defaultPolicy: () => LoadedPolicy = (() => {
  let loaded: LoadedPolicy | undefined;
  return () => (loaded ??= parsePolicy(readFileSync(DEFAULT_POLICY_FILE, 'utf8'), DEFAULT_POLICY_FILE));
})();
