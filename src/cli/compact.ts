import type { JsonObject } from '../flows/jsonpb.js';
import type { FlowRecord } from '../flows/record.js';
import { eventName } from '../flows/summary.js';
import { RESERVED_IDENTITY_NAMES, TRACE_POINT_NAMES } from '../flows/row.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MATCH_TYPES = ['none', 'L3-Only', 'L3-L4', 'L4-Only', 'all', 'L3-Proto', 'Proto-Only'];

function stamp(time: string): string {
  const d = new Date(time);
  const frac = (/\.(\d+)Z$/.exec(time)?.[1] ?? '').padEnd(3, '0').slice(0, 3);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${frac}`;
}

function side(flow: FlowRecord, which: 'source' | 'destination'): string {
  const ep = (flow[which] ?? {}) as JsonObject;
  const ip = ((flow.IP ?? {}) as JsonObject)[which] as string | undefined;
  const l4 = Object.values((flow.l4 ?? {}) as JsonObject)[0] as JsonObject | undefined;
  const port = l4?.[which === 'source' ? 'source_port' : 'destination_port'];
  const names = (flow[`${which}_names`] ?? []) as string[];
  const identity = (ep.identity as number | undefined) ?? 0;
  let who = ep.pod_name ? `${String(ep.namespace)}/${String(ep.pod_name)}` : (names[0] ?? ip ?? '?');
  if (port) who += `:${String(port)}`;
  const tag = identity ? (RESERVED_IDENTITY_NAMES[identity] ?? `ID:${identity}`) : '';
  return tag ? `${who} (${tag})` : who;
}

function eventLabel(flow: FlowRecord): string {
  const et = (flow.event_type ?? {}) as JsonObject;
  const type = et.type as number | undefined;
  const sub = (et.sub_type as number | undefined) ?? 0;
  if (type === 4) return TRACE_POINT_NAMES[sub] ?? `trace:${sub}`;
  if (type === 5) return `policy-verdict:${MATCH_TYPES[(flow.policy_match_type as number | undefined) ?? 0] ?? 'unknown'}`;
  if (type === 129) {
    const l7 = (flow.l7 ?? {}) as JsonObject;
    const kind = l7.http ? 'http' : l7.dns ? 'dns' : 'l7';
    return `${kind}-${String(l7.type ?? '').toLowerCase()}`;
  }
  return eventName(flow);
}

/**
 * Escapes control characters (ESC, CR, newlines, C1) that a flow's URL, DNS name or
 * label could carry, so printed flows cannot rewrite the operator's terminal.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** One line in the spirit of `hubble observe -o compact`. */
export function compactLine(flow: FlowRecord): string {
  return printable(compactText(flow));
}

function compactText(flow: FlowRecord): string {
  const arrow = flow.is_reply === true ? '<-' : '->';
  const [a, b] = flow.is_reply === true ? ['destination', 'source'] as const : ['source', 'destination'] as const;
  const verdict = String(flow.verdict ?? 'UNKNOWN');
  const direction = flow.traffic_direction ? ` ${String(flow.traffic_direction)}` : '';
  const reason = flow.drop_reason_desc ? ` (${String(flow.drop_reason_desc)})` : '';
  const denied = [...((flow.ingress_denied_by ?? []) as JsonObject[]), ...((flow.egress_denied_by ?? []) as JsonObject[])]
    .map((p) => (p.namespace ? `${String(p.namespace)}/${String(p.name)}` : String(p.name)));
  const policy = denied.length ? ` [denied by ${denied.join(', ')}]` : '';
  const summary = flow.Summary ? ` (${String(flow.Summary)})` : '';
  return `${stamp(flow.time)}: ${side(flow, a)} ${arrow} ${side(flow, b)} ${eventLabel(flow)}${direction} ${verdict}${reason}${policy}${summary}`.replace(/ {2,}/g, ' ');
}
