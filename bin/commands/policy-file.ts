/** A policy named on agentctl's command line: loaded, or one line saying why not (`FILE:LINE:COL: field: problem`, `FILE: no such file or directory`). */
import { loadPolicyFile, PolicyError, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { unreadable } from './input-file.ts';

export function readPolicy(file: string): LoadedPolicy | string {
  try {
    return loadPolicyFile(file);
  } catch (err) {
    if (err instanceof PolicyError) return err.message.split('\n')[0]!;
    return `${file}: ${unreadable(err)}`;
  }
}
