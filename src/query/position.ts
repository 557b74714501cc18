/**
 * Positions in a store's total order of flows, where a page ends and the next
 * one goes on. Each engine has its own: SQLite a row id within an hourly
 * partition, ClickHouse the sort key (time in ns, seq). The faces carry them
 * opaquely (cursors, the Observer's pages) and only step them by one.
 */

/** SQLite: (partition hour, rowid). */
export interface RowPosition {
  hour: number;
  id: number;
}

/** ClickHouse: (time in ns, seq), as decimal strings (both need 64 bits). */
export interface ClickHousePosition {
  timeNs: string;
  seq: string;
}

export type FlowPosition = RowPosition | ClickHousePosition;

export function isRowPosition(p: FlowPosition): p is RowPosition {
  return 'hour' in p;
}

/** The position `delta` (±1) steps along the order: the flow just before or after `p`'s. */
export function stepPosition(p: FlowPosition, delta: 1 | -1): FlowPosition {
  if (isRowPosition(p)) return { hour: p.hour, id: p.id + delta };
  return { timeNs: p.timeNs, seq: (BigInt(p.seq) + BigInt(delta)).toString() };
}

/** A position as cursor text (dot-free). */
export function positionText(p: FlowPosition): string {
  return isRowPosition(p) ? `r${p.hour}_${p.id}` : `c${p.timeNs}_${p.seq}`;
}

const POSITION = /^(?:r(\d{1,10})_(-?\d{1,16})|c(\d{1,20})_(\d{1,20}))$/;

/** A position from positionText, or null when the text is not one. */
export function parsePosition(text: string): FlowPosition | null {
  const m = POSITION.exec(text);
  if (!m) return null;
  if (m[1] !== undefined) return { hour: Number(m[1]), id: Number(m[2]) };
  return { timeNs: m[3], seq: m[4] };
}
