import { FlowkeeperError } from '../../errors.js';
import type { ClickHouseHttp, ClickHouseSettings } from './http.js';
import { stringLiteral } from './where.js';

/**
 * Scale-out: every flowkeeper writes into the tables of the ClickHouse server
 * it is given (its shard), and with --clickhouse-cluster reads through
 * Distributed tables over every shard of that cluster (as the servers'
 * remote_servers define it), so any instance answers for all of them.
 */

/** The local tables and the Distributed tables over them, which reads use with a cluster. */
const DISTRIBUTED: Record<string, string> = { flows: 'flows_all', flows_1m: 'flows_1m_all', label_sets: 'label_sets_all', lost_events: 'lost_events_all' };

/** The tables queries read: the server's own, or with a cluster the Distributed ones over all shards. */
export function readTables(settings: ClickHouseSettings): { flows: string; rollups: string; labelSets: string; lostEvents: string } {
  return settings.cluster
    ? { flows: DISTRIBUTED.flows, rollups: DISTRIBUTED.flows_1m, labelSets: DISTRIBUTED.label_sets, lostEvents: DISTRIBUTED.lost_events }
    : { flows: 'flows', rollups: 'flows_1m', labelSets: 'label_sets', lostEvents: 'lost_events' };
}

/**
 * Creates the Distributed tables over the cluster's shards, or re-creates one
 * whose columns no longer match its local table (a later migration added
 * some). They hold no data: ClickHouse reads each shard's local table.
 */
export async function ensureDistributedTables(ch: ClickHouseHttp): Promise<void> {
  const cluster = ch.settings.cluster;
  if (!cluster) return;
  const db = ch.settings.database;
  const known = await ch.rows<{ cluster: string; shards: string }>('SELECT cluster, uniqExact(shard_num) AS shards FROM system.clusters GROUP BY cluster ORDER BY cluster', null);
  if (!known.some((c) => c.cluster === cluster)) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--clickhouse-cluster: "${cluster}" is not a cluster of this ClickHouse server (its remote_servers define: ${known.map((c) => `${c.cluster} (${c.shards} shards)`).join(', ') || 'none'})`, 'clickhouse-cluster');
  }
  for (const [local, distributed] of Object.entries(DISTRIBUTED)) {
    const columns = async (table: string): Promise<string> =>
      (await ch.rows<{ name: string; type: string }>(`SELECT name, type FROM system.columns WHERE database = ${stringLiteral(db)} AND table = ${stringLiteral(table)} ORDER BY name`, null)).map((c) => `${c.name} ${c.type}`).join(',');
    const want = await columns(local);
    const have = await columns(distributed);
    if (have === want) continue;
    if (have !== '') await ch.command(`DROP TABLE IF EXISTS ${db}.${distributed}`);
    await ch.command(`CREATE TABLE IF NOT EXISTS ${db}.${distributed} AS ${db}.${local} ENGINE = Distributed(${cluster}, ${db}, ${local})`);
  }
}
