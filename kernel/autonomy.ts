/**
 * Autonomy levels: how much an agent may do without a human, on top of what
 * the policy says. `full` (the default): the policy decides. `supervised`:
 * every change the policy would allow needs an approval instead. `observe`:
 * changes are refused (reads go on). A change is a write-access call on
 * something beyond the agent's own process — a file, a tool, a spawn, a
 * signal to a process; its own output, pipes and open files, and exit, are not. An agent's level
 * comes from its manifest (`autonomy:`) and an operator can change it while
 * it runs (`agentctl autonomy AGENT LEVEL`); it applies to every process of
 * the agent at its next call, and the change is recorded.
 */

export const AUTONOMY_LEVELS = ['full', 'supervised', 'observe'] as const;
export type Autonomy = (typeof AUTONOMY_LEVELS)[number];

/** The rule that names a decision the autonomy level made or tightened. */
export const AUTONOMY_RULE = 'kernel.autonomy';

export function isAutonomy(value: unknown): value is Autonomy {
  return typeof value === 'string' && (AUTONOMY_LEVELS as readonly string[]).includes(value);
}

/** Autonomies keeps the agents whose level is not `full`. */
export class Autonomies {
  private readonly levels = new Map<string, Autonomy>();

  level(agentId: string): Autonomy {
    return this.levels.get(agentId) ?? 'full';
  }

  set(agentId: string, level: Autonomy): void {
    if (level === 'full') this.levels.delete(agentId);
    else this.levels.set(agentId, level);
  }
}
