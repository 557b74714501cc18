import type { StoredRow } from '../../flows/materialize.js';
import type { Statement } from 'better-sqlite3';
import { uuidFromHex } from '../../flows/scan.js';

/**
 * better-sqlite3 spends about 0.2 µs creating each JS value it returns, so a
 * flow row read column by column (46 values) costs more than everything done
 * with it afterwards. Scans therefore ask SQLite for two values per row: the
 * rowid, and every other column in one JSON array (json_array is exact for
 * integers, keeps NULLs, and hex-encodes the blobs), which JSON.parse turns
 * back into numbers faster than the driver would.
 */

/** Integer columns of a flow partition table, in the order of the JSON array. */
const INTEGER_COLUMNS = [
  'verdict', 'drop_reason', 'bits', 'flow_type', 'event_type', 'event_sub', 'direction', 'obs_point', 'trace_reason',
  'policy_match', 'auth_type', 'node', 'src_ep', 'dst_ep', 'src_ip', 'dst_ip', 'src_xlated', 'ip_version', 'l4',
  'src_port', 'dst_port', 'tcp_flags', 'icmp_type', 'icmp_code', 'l4_other', 'ethernet', 'l7_type', 'latency_ns',
  'l7_record', 'http_code', 'src_names', 'dst_names', 'src_service', 'dst_service', 'summary', 'iface', 'proxy_port',
  'allowed_by', 'denied_by', 'policy_log', 'node_labels', 'emitter',
] as const satisfies readonly (keyof StoredRow)[];

/** uuid is a 16-byte blob (a canonical uuid) or the text the relay sent: "x" + hex, or "=" + text. */
const UUID_SQL = `CASE typeof(uuid) WHEN 'blob' THEN 'x' || hex(uuid) WHEN 'text' THEN '=' || uuid END`;
const BLOB_COLUMNS = ['l7_headers', 'extra'] as const;

/** The select list of a row scan: `id`, then one JSON array of the rest. */
export const ROW_SELECT = `id, json_array(${[...INTEGER_COLUMNS, UUID_SQL, ...BLOB_COLUMNS.map((c) => `hex(${c})`)].join(', ')})`;

/** A stored row with its rowid (seconds and nanos are 0 until the caller sets them from the rowid). */
export type IdRow = StoredRow & { id: number };

function uuidOf(text: string | null): string | null {
  if (text === null) return null;
  if (text[0] === '=') return text.slice(1);
  return uuidFromHex(text.slice(1).toLowerCase());
}

/**
 * An object literal of one fixed shape (a row built key by key turns into a slow
 * dictionary-mode object). `v` holds what SQLite has in each column, in IdRow's types.
 */
function rowOf(id: number, v: never[]): IdRow {
  return {
    id,
    seconds: 0,
    nanos: 0,
    verdict: v[0],
    drop_reason: v[1],
    bits: v[2],
    flow_type: v[3],
    event_type: v[4],
    event_sub: v[5],
    direction: v[6],
    obs_point: v[7],
    trace_reason: v[8],
    policy_match: v[9],
    auth_type: v[10],
    node: v[11],
    src_ep: v[12],
    dst_ep: v[13],
    src_ip: v[14],
    dst_ip: v[15],
    src_xlated: v[16],
    ip_version: v[17],
    l4: v[18],
    src_port: v[19],
    dst_port: v[20],
    tcp_flags: v[21],
    icmp_type: v[22],
    icmp_code: v[23],
    l4_other: v[24],
    ethernet: v[25],
    l7_type: v[26],
    latency_ns: v[27],
    l7_record: v[28],
    http_code: v[29],
    src_names: v[30],
    dst_names: v[31],
    src_service: v[32],
    dst_service: v[33],
    summary: v[34],
    iface: v[35],
    proxy_port: v[36],
    allowed_by: v[37],
    denied_by: v[38],
    policy_log: v[39],
    node_labels: v[40],
    emitter: v[41],
    uuid: uuidOf(v[42]),
    l7_headers: blobOf(v[43]),
    extra: blobOf(v[44]),
  };
}

/** hex() of NULL is '' (and an empty blob is never stored). */
function blobOf(hex: string | null): Buffer | null {
  return hex ? Buffer.from(hex, 'hex') : null;
}

/** The row of one raw result of ROW_SELECT. */
export function unpackRow(raw: unknown[]): IdRow {
  return rowOf(raw[0] as number, JSON.parse(raw[1] as string) as never[]);
}

/** Runs a raw-mode statement over ROW_SELECT and unpacks its rows. */
export function selectRows(stmt: Statement, params: unknown[]): IdRow[] {
  return (stmt.raw(true).all(...params) as unknown[][]).map(unpackRow);
}
