import { RowBits } from '../flows/row.js';
import type { FlowRow } from '../flows/row.js';
import type { AggregateRow } from '../query/aggregate.js';

/**
 * The port rollups group by: the destination port of requests. Replies go to the
 * client's ephemeral port, which would give every reply its own group, so they
 * count under port 0. (Raw-flow aggregation applies the same rule.)
 */
export function rollupPort(row: Pick<FlowRow, 'bits' | 'dstPort'>): number {
  const reply = row.bits & RowBits.IsReplyPresent ? (row.bits & RowBits.IsReplyValue) !== 0 : (row.bits & RowBits.LegacyReply) !== 0;
  return reply ? 0 : (row.dstPort ?? 0);
}

/** Flows of one batch with the same metric dimensions (ids; names are resolved by the reader). */
export type MetricDelta = Omit<AggregateRow, 'minute' | 'port' | 'l4' | 'srcLabels' | 'dstLabels' | 'node'> & { flows: number };
