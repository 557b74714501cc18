import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** The process logger: structured JSON on stderr (stdout stays free for command output). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'flowkeeper' } }, pino.destination(2));
}

/** Logs at most once per `intervalMs` per key, counting what it suppressed. */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const entry = this.last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    this.log.warn({ ...obj, suppressed: entry?.suppressed ?? 0 }, msg);
    this.last.set(key, { at: now, suppressed: 0 });
  }
}
