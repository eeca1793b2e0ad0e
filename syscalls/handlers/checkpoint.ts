import type { CheckpointInfo, SyscallContext } from '../context.ts';

/** sysCheckpoint snapshots the agent's mem/ under state/checkpoints/<n> with a manifest, as SIGUSR1 does. */
export function sysCheckpoint(ctx: Pick<SyscallContext, 'checkpoint'>, _args: object): Promise<CheckpointInfo> {
  return ctx.checkpoint();
}
