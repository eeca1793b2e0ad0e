/**
 * A caller that is not a process gives the dispatcher only what the rows it
 * calls need (ContextFor): the Caller, its policy point's needs and its
 * handler's. The `@ts-expect-error` lines are checked by `npm run
 * typecheck`: each fails the typecheck if the narrowed type stops asking for
 * the member it names. The MCP gateway (test/tools/mcp-gateway.test.ts)
 * is the caller that runs on this: it dispatches SYS_EXEC with no VFS, fds,
 * signals or children at all.
 */
import { describe, expect, it } from 'vitest';
import { Identity } from '../../kernel/capabilities.ts';
import type { Caller } from '../../syscalls/context.ts';
import type { ContextFor } from '../../syscalls/dispatch.ts';
import { rowOf } from '../../syscalls/table.ts';

const CALLER: Caller = { pid: 7, agentId: 'narrow', identity: new Identity({ id: 'narrow', labels: {}, capabilities: ['tool:*'] }), alive: () => true, violation: () => undefined };

describe('ContextFor', () => {
  it('asks each row for what its question and handler use, and nothing else', () => {
    const exec: ContextFor<ReturnType<typeof rowOf<'SYS_EXEC'>>> = { ...CALLER, tools: { flows: () => [], call: () => ({ tool: 't', output: null, bytes: 0, ms: 0 }) } };
    // @ts-expect-error SYS_EXEC's question (its flows) and its handler need the caller's tools
    const execWithout: ContextFor<ReturnType<typeof rowOf<'SYS_EXEC'>>> = { ...CALLER };
    // @ts-expect-error SYS_OPEN's question resolves the path (fs) and its handler opens through files
    const openWithout: ContextFor<ReturnType<typeof rowOf<'SYS_OPEN'>>> = { ...CALLER, files: exec.tools as never };
    // @ts-expect-error SYS_SIGNAL's question needs what the target is to the caller (kinOf)
    const signalWithout: ContextFor<ReturnType<typeof rowOf<'SYS_SIGNAL'>>> = { ...CALLER, signal: () => 'ignored' };
    const getpid: ContextFor<ReturnType<typeof rowOf<'SYS_GETPID'>>> = { ...CALLER };
    expect([execWithout, openWithout, signalWithout, getpid].every((c) => c.agentId === 'narrow')).toBe(true);
  });

  it('rowOf gives the named row, and refuses a name the table lacks', () => {
    expect(rowOf('SYS_EXEC').nr).toBe(10);
    expect(() => rowOf('SYS_NOPE' as 'SYS_EXEC')).toThrow(/no syscall SYS_NOPE/);
  });
});
