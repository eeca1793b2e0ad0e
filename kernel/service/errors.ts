/** Mapping kernel errors onto HTTP answers: one clear message, never a stack. */
import type { FastifyReply } from 'fastify';
import { KernelError, type Errno } from '../../syscalls/errno.ts';

const STATUS: Partial<Record<Errno, number>> = {
  ESRCH: 404,
  ENOENT: 404,
  ECHILD: 404,
  EPERM: 403,
  EACCES: 403,
  EEXIST: 409,
  EINVAL: 400,
  ENOEXEC: 400,
  ENAMETOOLONG: 400,
  EISDIR: 400,
  ENOTDIR: 400,
  EAGAIN: 429,
  EMFILE: 429,
  EIO: 503,
  ETIMEDOUT: 504,
};

/** sendError answers `err` as { error, errno } with a status derived from the errno. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof KernelError) return reply.code(STATUS[err.errno] ?? 500).send({ error: err.message, errno: err.errno });
  return reply.code(500).send({ error: 'internal error' });
}
