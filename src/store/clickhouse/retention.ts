import type { ClickHouseHttp } from './http.js';
import { stringLiteral } from './where.js';

const DAY_SECONDS = 86_400;

/**
 * Drops a table's daily partitions (raw flows, their rollups, lost-events counts) that lie wholly before now minus
 * `maxAgeSeconds` (one ALTER … DROP PARTITION each, which ClickHouse does by
 * removing files: no rewrite). A day still partly within retention is kept,
 * so flows live up to a day longer than asked. Returns the days dropped.
 */
export async function dropExpiredPartitions(ch: ClickHouseHttp, maxAgeSeconds: number, nowSeconds = Date.now() / 1000, table: 'flows' | 'flows_1m' | 'lost_events' = 'flows'): Promise<string[]> {
  const parts = await ch.rows<{ day: string }>(`SELECT DISTINCT partition AS day FROM system.parts WHERE database = ${stringLiteral(ch.settings.database)} AND table = ${stringLiteral(table)} AND active ORDER BY day`);
  const cutoff = nowSeconds - maxAgeSeconds;
  const dropped: string[] = [];
  for (const { day } of parts) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) continue;
    const dayEnd = Date.parse(`${day}T00:00:00Z`) / 1000 + DAY_SECONDS;
    if (dayEnd > cutoff) continue;
    await ch.command(`ALTER TABLE ${table} DROP PARTITION '${day}'`);
    dropped.push(day);
  }
  return dropped;
}
