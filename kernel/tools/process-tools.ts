/**
 * processTools is the tool registry as one process sees it (its
 * SyscallContext's `tools`): calls run for the process's agent, LLM tokens
 * count against that agent's budgets, and the vfs-to-exec flow is computed
 * against what that agent wrote into its VFS.
 */
import type { ToolCalls } from '../../syscalls/context.ts';
import type { ToolCaller, ToolRegistry } from './registry.ts';
import type { WriteTracker } from './write-tracker.ts';

const NONE: readonly string[] = Object.freeze([]);
const VFS_TO_EXEC: readonly string[] = Object.freeze(['vfs-to-exec']);

/**
 * `written` returns the agent's tracker, up to date (files still open for
 * writing included); it is only asked when a tool executes an argument.
 */
export function processTools(registry: ToolRegistry, caller: ToolCaller, written: () => WriteTracker): ToolCalls {
  return {
    flows(tool, args) {
      const texts = registry.executableText(tool, args);
      if (texts.length === 0) return NONE;
      const tracker = written();
      return texts.some((t) => tracker.wrote(t)) ? VFS_TO_EXEC : NONE;
    },
    call: (tool, args, cancel) => registry.call(tool, args, caller, cancel),
  };
}
