import type { FlowRecord } from '../flows/record.js';
import type { Connection, EndpointView, Protocol } from './model.js';

/**
 * A stored flow as policy sees it: the connection it belongs to, turned to
 * face from its initiator (a reply is judged as the request it answers, since
 * conntrack lets replies through exactly when the request was allowed), and
 * what Hubble observed happen to it.
 */

type Json = Record<string, unknown>;

export type Observed = 'allowed' | 'denied' | 'dropped-other';

/** Drop reasons that are policy decisions (POLICY_DENIED, POLICY_DENY, AUTH_REQUIRED). */
const POLICY_DROPS = new Set(['POLICY_DENIED', 'POLICY_DENY', 'AUTH_REQUIRED']);

export function observedOutcome(f: FlowRecord): Observed {
  if (f.verdict !== 'DROPPED' && f.verdict !== 'ERROR') return 'allowed';
  // A dropped L7 record is the proxy refusing the request: a policy decision.
  if (f.verdict === 'DROPPED' && (f.Type === 'L7' || POLICY_DROPS.has(String(f.drop_reason_desc)))) return 'denied';
  return 'dropped-other';
}

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** A reply: is_reply says so, or an L7 response. */
function isReply(f: FlowRecord): boolean {
  return f.is_reply === true || obj(f.l7).type === 'RESPONSE';
}

/** Resolves an IP to names seen in DNS answers of the history (null: none seen). */
export type NameLookup = (ip: string) => string[] | null;

function endpoint(f: FlowRecord, side: 'source' | 'destination', names: NameLookup): EndpointView {
  const ep = obj(f[side]);
  const workloads = Array.isArray(ep.workloads) ? ep.workloads : [];
  const ip = String(obj(f.IP)[side] ?? '');
  const recorded = strings(f[`${side}_names`]);
  const svc = obj(f[`${side}_service`]);
  const labels = strings(ep.labels);
  // A node's host endpoint is selected by its node labels (CCNP nodeSelector); Hubble records them on the flow.
  const hostLabels = labels.includes('reserved:host') ? strings(f.node_labels).map((l) => (l.includes(':') && l.indexOf(':') < l.indexOf('=') ? l : `node:${l}`)) : [];
  return {
    labels: [...labels, ...hostLabels],
    identity: Number(ep.identity ?? 0),
    namespace: String(ep.namespace ?? ''),
    workload: String(obj(workloads[0]).name ?? ep.pod_name ?? ''),
    ip,
    names: recorded.length > 0 ? recorded : ip ? names(ip) : null,
    service: typeof svc.name === 'string' && svc.name !== '' ? { name: svc.name, namespace: String(svc.namespace ?? '') } : null,
  };
}

const PORT_PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** The connection a flow belongs to, from its initiator's side. */
export function connectionOf(f: FlowRecord, names: NameLookup): Connection {
  const reply = isReply(f);
  const src = endpoint(f, 'source', names);
  const dst = endpoint(f, 'destination', names);
  const l4 = obj(f.l4);
  let protocol: Protocol = '';
  let port = 0;
  let icmpType: number | null = null;
  for (const p of PORT_PROTOCOLS) {
    if (l4[p]) {
      protocol = p;
      const ports = obj(l4[p]);
      port = Number((reply ? ports.source_port : ports.destination_port) ?? 0);
    }
  }
  for (const p of ['ICMPv4', 'ICMPv6'] as const) {
    if (l4[p]) {
      protocol = p;
      icmpType = Number(obj(l4[p]).type ?? 0);
    }
  }
  const l7 = obj(f.l7);
  const http = obj(l7.http);
  const dns = obj(l7.dns);
  return {
    src: reply ? dst : src,
    dst: reply ? src : dst,
    protocol,
    port,
    icmpType,
    http: typeof http.method === 'string' || typeof http.url === 'string' ? httpOf(http) : null,
    dns: typeof dns.query === 'string' ? { query: dns.query } : null,
  };
}

function httpOf(http: Json): NonNullable<Connection['http']> {
  const url = String(http.url ?? '');
  let path = url;
  let host = '';
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(url);
  if (m) {
    host = m[1];
    path = m[2] || '/';
  }
  const headers = Array.isArray(http.headers) ? http.headers.map((h) => ({ key: String(obj(h).key ?? ''), value: String(obj(h).value ?? '') })) : [];
  const hostHeader = headers.find((h) => h.key.toLowerCase() === 'host');
  return { method: String(http.method ?? ''), path, host: hostHeader?.value ?? host, headers };
}

/** IP → names from the DNS answers among the flows (what a toFQDNs rule would have learned). */
export function dnsAnswers(flows: Iterable<FlowRecord>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of flows) {
    const dns = obj(obj(f.l7).dns);
    if (typeof dns.query !== 'string') continue;
    for (const ip of strings(dns.ips)) {
      const list = out.get(ip) ?? [];
      if (!list.includes(dns.query)) list.push(dns.query);
      out.set(ip, list);
    }
  }
  return out;
}
