import type { JsonObject } from '../../flows/jsonpb.js';
import type { FlowRecord } from '../../flows/record.js';
import { Deadline } from '../../query/deadline.js';
import type { FlowClassesRequest } from '../../query/engine.js';
import { fromNanos } from '../../query/time.js';
import type { FlowClasses, FlowClass } from '../flow-classes.js';
import type { ClickHouseHttp } from './http.js';
import { queryClickHouseFlows } from './flows.js';
import type { ClickHousePosition } from './flows.js';

/** Flows read per page while classing. */
const PAGE = 10_000;

/** JSON with sorted keys, so equal values give equal text whatever order their fields came in. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${sortedJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * What a policy can tell apart in a flow, as the SQLite classes key it: the
 * endpoints, addresses, DNS names and services, verdict, drop reason, event
 * type, direction, reply flag, protocol, the service port (the source port of
 * a reply), ICMP type and the L7 record (without its latency, and without HTTP
 * headers unless a rule looks at them).
 */
export function classKeyOf(f: FlowRecord, withHeaders: boolean): string {
  const l4 = (f.l4 ?? {}) as Record<string, JsonObject>;
  const protocol = Object.keys(l4)[0] ?? '';
  const p = l4[protocol] ?? {};
  const reply = f.is_reply === true;
  let l7: JsonObject | null = null;
  if (f.l7 && typeof f.l7 === 'object') {
    const { latency_ns: _latency, ...rest } = f.l7 as JsonObject;
    l7 = rest;
    const http = rest.http as JsonObject | undefined;
    if (http && !withHeaders) {
      const { headers: _headers, ...withoutHeaders } = http;
      l7 = { ...rest, http: withoutHeaders };
    }
  }
  return sortedJson([
    f.verdict, f.drop_reason_desc ?? null, (f.event_type as JsonObject | undefined)?.type ?? null, f.traffic_direction ?? null, reply,
    protocol, reply ? p.source_port : p.destination_port, p.type ?? null, l7,
    f.source ?? null, f.destination ?? null, (f.IP as JsonObject | undefined)?.source ?? null, (f.IP as JsonObject | undefined)?.destination ?? null,
    f.source_names ?? null, f.destination_names ?? null, f.source_service ?? null, f.destination_service ?? null,
  ]);
}

/**
 * Flow classes for policy replay on ClickHouse: the range's flows read in time
 * order (any filter) and grouped by classKeyOf here, each class keeping its
 * first flow as the sample. Reads every flow of the range, so it is slower than
 * SQLite's grouping inside the store; the budget and class limit stop it as there.
 */
export async function clickhouseFlowClasses(ch: ClickHouseHttp, req: FlowClassesRequest, cancelFlag: Int32Array | null): Promise<FlowClasses> {
  const deadline = Deadline.in(req.budgetMs, cancelFlag);
  const byKey = new Map<string, FlowClass>();
  let flows = 0;
  let after: ClickHousePosition | null = null;
  let truncated: FlowClasses['truncated'] = null;
  let lastTime = req.since;
  for (;;) {
    const page: { flows: { record: FlowRecord; timeNs: bigint }[]; next: ClickHousePosition | null; truncated: boolean } = await queryClickHouseFlows(ch, {
      filters: req.filters, since: req.since, until: req.until, order: 'asc', limit: PAGE, after, deadline,
      read: (record, _response, timeNs) => ({ record, timeNs }),
    });
    for (const { record, timeNs } of page.flows) {
      const time = fromNanos(timeNs);
      const key = classKeyOf(record, req.withHeaders);
      const seen = byKey.get(key);
      if (seen) {
        seen.flows++;
        seen.last = time;
      } else if (byKey.size >= req.maxClasses) {
        truncated = 'classes';
        break;
      } else {
        byKey.set(key, { key, sample: record, flows: 1, first: time, last: time });
      }
      flows++;
      lastTime = time;
    }
    if (truncated) break;
    if (page.truncated || (page.next && deadline.passed())) {
      truncated = 'deadline';
      break;
    }
    if (!page.next) break;
    after = page.next;
  }
  return { classes: [...byKey.values()], flows, truncated, readUntil: truncated ? lastTime : null };
}
