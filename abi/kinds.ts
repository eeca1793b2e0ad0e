/**
 * The kinds every layer names the same way: what a decision's effect is,
 * what a call does to its resource, and what kind of resource a syscall row
 * acts on. The syscall table, the policy language, the decision log and the
 * VFS all read them here.
 */

/** Effect is what a decision lets happen. */
export type Effect = 'allow' | 'deny' | 'require_approval';

/** Access is what a syscall does to the resource its row names. */
export type Access = 'read' | 'write' | 'none';

/** Resource is what a syscall row acts on: a path argument, an fd the caller holds, the caller itself, a tool, another process, or a program to spawn. */
export type Resource = 'path' | 'fd' | 'self' | 'tool' | 'process' | 'program';
