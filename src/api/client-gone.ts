import type { FastifyReply } from 'fastify';

/** Aborts when the client closes the connection before its answer was sent (its query is then cancelled). */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
