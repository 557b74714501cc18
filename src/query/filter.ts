import { createHash } from 'node:crypto';
import { FlowkeeperError } from '../errors.js';
import { jsonpbToPlain } from '../flows/jsonpb.js';
import type { JsonObject } from '../flows/jsonpb.js';
import type { FlowRecord } from '../flows/record.js';
import { FlowFilterType } from '../flows/schema.js';
import {
  clusterDimension, fqdnDimension, identityDimension, ipDimension, labelDimension, podDimension, serviceDimension,
  workloadDimension,
} from './dims-endpoint.js';
import {
  directionDimension, dropReasonDimension, encryptedDimension, eventTypeDimension, interfaceDimension, ipTraceIdDimension,
  ipVersionDimension, nodeLabelsDimension, nodeNameDimension, replyDimension, traceIdDimension, uuidDimension,
  verdictDimension,
} from './dims-flow.js';
import {
  dnsQueryDimension, httpHeaderDimension, httpMethodDimension, httpPathDimension, httpStatusDimension, httpUrlDimension,
  portDimension, protocolDimension, tcpFlagsDimension,
} from './dims-l4l7.js';
import { allOf, anyOf } from './model.js';
import { celDimension } from './cel.js';
import type { Dimension, DictionaryIndex, SqlFragment } from './model.js';

/** Most values one filter may list, and most filters in a request (hostile-input limits). */
export const MAX_VALUES_PER_FIELD = 256;
export const MAX_FILTERS = 64;
/** Most values across every filter of a request (each may become an SQL parameter). */
export const MAX_TOTAL_VALUES = 2048;
const L7_EVENT_TYPE = 129;
const FORWARDED = 1;

type Plain = Record<string, unknown>;
type Builder = (values: never[], plain: Plain) => Dimension;

/** FlowFilter field → dimension builder (Hubble's filters, one per field). */
const BUILDERS: Record<string, Builder> = {
  uuid: (v: string[]) => uuidDimension(v),
  source_ip: (v: string[]) => ipDimension('source', v),
  source_ip_xlated: (v: string[]) => ipDimension('source_xlated', v),
  destination_ip: (v: string[]) => ipDimension('destination', v),
  source_pod: (v: string[]) => podDimension('source', v),
  destination_pod: (v: string[]) => podDimension('destination', v),
  source_fqdn: (v: string[]) => fqdnDimension('source', v),
  destination_fqdn: (v: string[]) => fqdnDimension('destination', v),
  source_label: (v: string[]) => labelDimension('source', v),
  destination_label: (v: string[]) => labelDimension('destination', v),
  source_service: (v: string[]) => serviceDimension('source', v),
  destination_service: (v: string[]) => serviceDimension('destination', v),
  source_workload: (v: { name?: string; kind?: string }[]) => workloadDimension('source', v),
  destination_workload: (v: { name?: string; kind?: string }[]) => workloadDimension('destination', v),
  source_cluster_name: (v: string[]) => clusterDimension('source', v),
  destination_cluster_name: (v: string[]) => clusterDimension('destination', v),
  source_identity: (v: number[]) => identityDimension('source', v),
  destination_identity: (v: number[]) => identityDimension('destination', v),
  traffic_direction: (v: number[]) => directionDimension(v),
  verdict: (v: number[]) => verdictDimension(v),
  drop_reason_desc: (v: number[]) => dropReasonDimension(v),
  interface: (v: { index?: number; name?: string }[]) => interfaceDimension(v),
  event_type: (v: { type?: number; match_sub_type?: boolean; sub_type?: number }[]) =>
    eventTypeDimension(v.map((e) => ({ type: e.type ?? 0, match_sub_type: e.match_sub_type ?? false, sub_type: e.sub_type ?? 0 }))),
  http_status_code: (v: string[]) => httpStatusDimension(v),
  protocol: (v: string[]) => protocolDimension(v),
  source_port: (v: string[]) => portDimension('source', v),
  destination_port: (v: string[]) => portDimension('destination', v),
  reply: (v: boolean[]) => replyDimension(v),
  dns_query: (v: string[]) => dnsQueryDimension(v),
  http_method: (v: string[]) => httpMethodDimension(v),
  http_path: (v: string[]) => httpPathDimension(v),
  http_url: (v: string[]) => httpUrlDimension(v),
  http_header: (v: { key?: string; value?: string }[]) => httpHeaderDimension(v.map((h) => ({ key: h.key ?? '', value: h.value ?? '' }))),
  tcp_flags: (v: Record<string, boolean>[]) => tcpFlagsDimension(v),
  node_name: (v: string[]) => nodeNameDimension(v),
  node_labels: (v: string[]) => nodeLabelsDimension(v),
  ip_version: (v: number[]) => ipVersionDimension(v),
  trace_id: (v: string[]) => traceIdDimension(v),
  ip_trace_id: (v: (string | number)[]) => ipTraceIdDimension(v.map(String)),
  encrypted: (v: boolean[]) => encryptedDimension(v),
};

const HTTP_FIELDS = ['http_status_code', 'http_method', 'http_path', 'http_url', 'http_header'];

/** One Hubble FlowFilter: every set field must match (AND); values within a field OR. */
export class CompiledFilter {
  constructor(
    readonly dimensions: Dimension[],
    readonly verdicts: number[] | null,
    /** The validated filter (enums as numbers), for planners that work on fields rather than predicates. */
    readonly fields: Record<string, unknown>,
    /** The FlowFilter as it was given (compileFilter(source) compiles it again, e.g. in a query worker). */
    readonly source: unknown,
  ) {}

  match(flow: FlowRecord): boolean {
    return this.dimensions.every((d) => d.match(flow));
  }

  /** SQL for the dimensions SQL can express; `exact` is false when some are left to match(). */
  sql(index: DictionaryIndex): { fragment: SqlFragment; exact: boolean } {
    const parts: SqlFragment[] = [];
    let exact = true;
    for (const d of this.dimensions) {
      const s = d.sql(index);
      if (s) parts.push(s);
      else exact = false;
    }
    return { fragment: allOf(parts), exact };
  }
}

/** Parses and validates one FlowFilter in protojson (as `hubble observe --print-raw-filters` prints it). */
export function compileFilter(json: unknown, path: string): CompiledFilter {
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${path}: a FlowFilter must be a JSON object`, path);
  }
  let plain: Plain;
  try {
    plain = jsonpbToPlain(FlowFilterType, json as JsonObject, path);
  } catch (err) {
    // Name the FlowFilter field ("whitelist[0].source_pod[2]: ..." → source_pod).
    const message = (err as Error).message;
    const field = message.startsWith(`${path}.`) ? /^[A-Za-z_]+/.exec(message.slice(path.length + 1))?.[0] : undefined;
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', message, field ?? path);
  }
  const dims: Dimension[] = [];
  for (const [key, value] of Object.entries(plain)) {
    if (key === 'experimental') {
      const cel = ((value as Plain).cel_expression as string[] | undefined) ?? [];
      if (cel.length > MAX_VALUES_PER_FIELD) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${path}.experimental.cel_expression: more than ${MAX_VALUES_PER_FIELD} values`, 'cel_expression');
      if (cel.length) dims.push(celDimension(cel));
      continue;
    }
    const list = value as never[];
    if (list.length === 0) continue;
    if (list.length > MAX_VALUES_PER_FIELD) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${path}.${key}: more than ${MAX_VALUES_PER_FIELD} values`, key);
    }
    const build = BUILDERS[key];
    try {
      dims.push(build(list, plain));
    } catch (err) {
      if (err instanceof FlowkeeperError) throw err;
      throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${path}.${key}: ${(err as Error).message}`, key);
    }
  }
  const eventTypes = (plain.event_type as { type?: number }[] | undefined) ?? [];
  const usesHttp = HTTP_FIELDS.some((f) => ((plain[f] as unknown[] | undefined) ?? []).length > 0);
  if (usesHttp && eventTypes.length > 0 && !eventTypes.some((e) => e.type === L7_EVENT_TYPE)) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${path}: HTTP filters need event_type to be empty or include type 129 (l7), as in Hubble`, 'event_type');
  }
  const verdicts = ((plain.verdict as number[] | undefined) ?? []).length ? (plain.verdict as number[]) : null;
  return new CompiledFilter(dims, verdicts, plain, json);
}

/** A whitelist and a blacklist of FlowFilters: kept = (empty whitelist or any matches) and no blacklist filter matches. */
export class FilterSet {
  constructor(
    readonly whitelist: CompiledFilter[],
    readonly blacklist: CompiledFilter[],
  ) {}

  static parse(body: { whitelist?: unknown; blacklist?: unknown }, prefix = ''): FilterSet {
    const list = (v: unknown, name: string): CompiledFilter[] => {
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v)) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${prefix}${name} must be an array of FlowFilters`, name);
      if (v.length > MAX_FILTERS) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${prefix}${name}: more than ${MAX_FILTERS} filters`, name);
      return v.map((f, i) => compileFilter(f, `${prefix}${name}[${i}]`));
    };
    const set = new FilterSet(list(body.whitelist, 'whitelist'), list(body.blacklist, 'blacklist'));
    const values = [...set.whitelist, ...set.blacklist].reduce((n, f) => n + Object.values(f.fields).reduce((m: number, v) => m + (Array.isArray(v) ? v.length : 1), 0), 0);
    if (values > MAX_TOTAL_VALUES) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${prefix}filters: more than ${MAX_TOTAL_VALUES} values in all`, 'whitelist');
    }
    return set;
  }

  /**
   * The verdicts a matching flow can have, or null when any can match. Lets the
   * live stream skip decoding flows nobody could want.
   */
  verdictHint(): number[] | null {
    if (this.whitelist.length === 0 || this.whitelist.some((f) => f.verdicts === null)) return null;
    return [...new Set(this.whitelist.flatMap((f) => f.verdicts!))];
  }

  /** The filters as given, for FilterSet.parse to compile again (filters do not cross threads compiled). */
  source(): { whitelist: unknown[]; blacklist: unknown[] } {
    return { whitelist: this.whitelist.map((f) => f.source), blacklist: this.blacklist.map((f) => f.source) };
  }

  /** A short digest of the validated filters: equal filters, equal fingerprint (cursors carry it). */
  fingerprint(): string {
    const text = JSON.stringify([this.whitelist.map((f) => f.fields), this.blacklist.map((f) => f.fields)]);
    return createHash('sha256').update(text).digest('base64url').slice(0, 16);
  }

  get empty(): boolean {
    return this.whitelist.length === 0 && this.blacklist.length === 0;
  }

  match(flow: FlowRecord): boolean {
    if (this.whitelist.length > 0 && !this.whitelist.some((f) => f.match(flow))) return false;
    return !this.blacklist.some((f) => f.match(flow));
  }

  /**
   * The filter set as a WHERE condition. `exact` is false when part of it could
   * only be judged in JS (the caller then re-checks rows with match()).
   */
  sql(index: DictionaryIndex): { where: SqlFragment; exact: boolean } {
    const parts: SqlFragment[] = [];
    let exact = true;
    if (this.whitelist.length > 0) {
      const wl = this.whitelist.map((f) => f.sql(index));
      exact &&= wl.every((w) => w.exact);
      parts.push(anyOf(wl.map((w) => w.fragment)));
      // The verdict index covers only non-FORWARDED rows; SQLite uses it when the query says so.
      if (this.whitelist.every((f) => f.verdicts !== null && !f.verdicts.includes(FORWARDED))) {
        parts.push({ sql: `verdict != ${FORWARDED}`, params: [] });
      }
    }
    for (const f of this.blacklist) {
      const b = f.sql(index);
      if (!b.exact) {
        exact = false;
        continue;
      }
      // coalesce: a NULL column (no endpoint, no port) means "does not match", so NOT keeps the row.
      parts.push({ sql: `NOT coalesce(${b.fragment.sql}, 0)`, params: b.fragment.params });
    }
    return { where: allOf(parts), exact };
  }
}
