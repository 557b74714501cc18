import type { JsonObject } from '../flows/jsonpb.js';
import type { FlowRecord } from '../flows/record.js';
import type { DictKind } from '../flows/row.js';

/** A piece of SQL over one partition table's columns, with its parameters. */
export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/**
 * What SQL compilation needs from the store: the ids of dictionary entries that
 * satisfy a predicate (evaluated in JS on the decoded entry, so the SQL and the
 * in-memory filter share one definition of each match).
 */
export interface DictionaryIndex {
  endpointIds(match: (endpoint: JsonObject) => boolean): number[];
  nodeIds(match: (nodeName: string) => boolean): number[];
  valueIds(kind: DictKind, match: (decoded: JsonValueOf) => boolean): number[];
}

/** A decoded dictionary value: IPs and summaries as strings, sub-messages as protojson objects. */
export type JsonValueOf = string | JsonObject;

/**
 * One filter dimension of a FlowFilter: a predicate over FlowRecords, and the
 * same condition as SQL over stored rows (null when only the predicate can say).
 */
export interface Dimension {
  name: string;
  match(flow: FlowRecord): boolean;
  sql(index: DictionaryIndex): SqlFragment | null;
}

export function idsIn(column: string, ids: number[]): SqlFragment {
  if (ids.length === 0) return { sql: '0', params: [] };
  return { sql: `${column} IN (SELECT value FROM json_each(?))`, params: [JSON.stringify(ids)] };
}

export function anyOf(parts: SqlFragment[]): SqlFragment {
  if (parts.length === 1) return parts[0];
  return { sql: `(${parts.map((p) => p.sql).join(' OR ')})`, params: parts.flatMap((p) => p.params) };
}

export function allOf(parts: SqlFragment[]): SqlFragment {
  if (parts.length === 0) return { sql: '1', params: [] };
  if (parts.length === 1) return parts[0];
  return { sql: `(${parts.map((p) => p.sql).join(' AND ')})`, params: parts.flatMap((p) => p.params) };
}

export function field(obj: unknown, key: string): unknown {
  return obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[key] : undefined;
}

export function obj(value: unknown): JsonObject | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

export function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
