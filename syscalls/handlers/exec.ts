import type { JsonValue } from '../schema.ts';
import type { CallScope, SyscallContext, ToolResult } from '../context.ts';

/**
 * sysExec runs tool `tool` with `args` through the process's tool registry
 * (capability and policy were checked on the tool name and its arguments by
 * the dispatcher). Returns { tool, output, bytes, ms }. ENOENT for an unknown
 * tool, EINVAL when `args` fails the tool's schema, ETIMEDOUT, EFBIG for
 * output over the tool's limit, ECANCELED when the call is canceled (or its
 * process ends) first, EIO (or the tool's own errno) when it fails.
 */
export function sysExec(ctx: Pick<SyscallContext, 'tools'>, args: { tool: string; args: JsonValue }, call: CallScope): ToolResult | Promise<ToolResult> {
  return ctx.tools.call(args.tool, args.args, call.cancel);
}
