import type { JsonObject } from '../../src/flows/jsonpb.js';
import type { FlowRecord } from '../../src/flows/record.js';

/**
 * One case per FlowFilter field (and the tricky spellings of each): the filter,
 * and an independent, literal reading of Hubble's semantics that says which
 * flows it selects. The filter tests hold the store and the in-memory
 * predicates to it; the ClickHouse tests hold ClickHouse to SQLite with it.
 */
export type F = FlowRecord & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const ep = (f: F, side: 'source' | 'destination'): F => (f[side] ?? {}) as F;
const labels = (f: F, side: 'source' | 'destination'): string[] => ep(f, side).labels ?? [];
const l4 = (f: F): F => f.l4 ?? {};
const ports = (f: F): F | undefined => l4(f).TCP ?? l4(f).UDP ?? l4(f).SCTP;
const http = (f: F): F | undefined => f.l7?.http;
const dns = (f: F): F | undefined => f.l7?.dns;
const inCidr4 = (ip: string | undefined, prefix: string): boolean => typeof ip === 'string' && ip.startsWith(prefix);

export interface Case {
  name: string;
  body: { whitelist?: JsonObject[]; blacklist?: JsonObject[] };
  expect: (f: F) => boolean;
  /** Some cases are expected to select nothing (e.g. a bare pod name means namespace "default"). */
  allowEmpty?: boolean;
}

export const CASES: Case[] = [
  { name: 'verdict', body: { whitelist: [{ verdict: ['DROPPED'] }] }, expect: (f) => f.verdict === 'DROPPED' },
  { name: 'verdict OR values', body: { whitelist: [{ verdict: ['FORWARDED', 'REDIRECTED'] }] }, expect: (f) => f.verdict === 'FORWARDED' || f.verdict === 'REDIRECTED' },
  { name: 'pod ns/prefix', body: { whitelist: [{ source_pod: ['bookinfo/reviews-'] }] }, expect: (f) => ep(f, 'source').namespace === 'bookinfo' && String(ep(f, 'source').pod_name ?? '').startsWith('reviews-') },
  { name: 'bare pod name means namespace default', body: { whitelist: [{ destination_pod: ['kube-dns'] }] }, expect: (f) => ep(f, 'destination').namespace === 'default' && String(ep(f, 'destination').pod_name ?? '').startsWith('kube-dns'), allowEmpty: true },
  { name: 'pod /prefix in any namespace', body: { whitelist: [{ destination_pod: ['/kube-dns'] }] }, expect: (f) => String(ep(f, 'destination').pod_name ?? '').startsWith('kube-dns') },
  { name: 'pod ns/ whole namespace', body: { whitelist: [{ source_pod: ['kube-system/'] }] }, expect: (f) => ep(f, 'source').namespace === 'kube-system' },
  { name: 'default namespace pod', body: { whitelist: [{ source_pod: ['xwing'] }] }, expect: (f) => ep(f, 'source').namespace === 'default' && String(ep(f, 'source').pod_name ?? '').startsWith('xwing') },
  { name: 'label with k8s: prefix', body: { whitelist: [{ source_label: ['k8s:app=reviews'] }] }, expect: (f) => labels(f, 'source').includes('k8s:app=reviews') },
  { name: 'label without source matches any source', body: { whitelist: [{ source_label: ['app=reviews'] }] }, expect: (f) => labels(f, 'source').some((l) => /^[^:]+:app=reviews$/.test(l)) },
  { name: 'reserved: label', body: { whitelist: [{ destination_label: ['reserved:host'] }] }, expect: (f) => labels(f, 'destination').includes('reserved:host') },
  { name: 'label set-based and AND', body: { whitelist: [{ source_label: ['app in (ratings, details),version=v1'] }] }, expect: (f) => (labels(f, 'source').includes('k8s:app=ratings') || labels(f, 'source').includes('k8s:app=details')) && labels(f, 'source').includes('k8s:version=v1') },
  { name: 'label !key', body: { whitelist: [{ source_label: ['!k8s:version'] }] }, expect: (f) => !labels(f, 'source').some((l) => l.startsWith('k8s:version=')) },
  { name: 'exact IP', body: { whitelist: [{ source_ip: ['10.0.2.16'] }] }, expect: (f) => f.IP?.source === '10.0.2.16' },
  { name: 'IPv6 CIDR', body: { whitelist: [{ source_ip: ['fe80::/10'] }] }, expect: (f) => String(f.IP?.source ?? '').startsWith('fe80:') },
  { name: 'CIDR', body: { whitelist: [{ destination_ip: ['10.244.0.0/16'] }] }, expect: (f) => inCidr4(f.IP?.destination, '10.244.') },
  { name: 'protocol L4', body: { whitelist: [{ protocol: ['udp'] }] }, expect: (f) => l4(f).UDP !== undefined },
  { name: 'protocol icmp covers v4 and v6', body: { whitelist: [{ protocol: ['ICMP'] }] }, expect: (f) => l4(f).ICMPv4 !== undefined || l4(f).ICMPv6 !== undefined },
  { name: 'protocol L7 dns', body: { whitelist: [{ protocol: ['dns'] }] }, expect: (f) => dns(f) !== undefined },
  { name: 'destination port', body: { whitelist: [{ destination_port: ['53'] }] }, expect: (f) => ports(f)?.destination_port === 53 },
  { name: 'source port', body: { whitelist: [{ source_port: ['15020'] }] }, expect: (f) => ports(f)?.source_port === 15020 },
  { name: 'http status prefix 5+', body: { whitelist: [{ http_status_code: ['5+'] }] }, expect: (f) => String(http(f)?.code ?? 0).startsWith('5') },
  { name: 'http status exact', body: { whitelist: [{ http_status_code: ['200'] }] }, expect: (f) => http(f)?.code === 200 },
  { name: 'http status 50+', body: { whitelist: [{ http_status_code: ['50+'] }] }, expect: (f) => String(http(f)?.code ?? 0).startsWith('50') },
  { name: 'http method case-insensitive', body: { whitelist: [{ http_method: ['post'] }] }, expect: (f) => http(f)?.method === 'POST' },
  { name: 'http path regex', body: { whitelist: [{ http_path: ['^/metrics$'] }] }, expect: (f) => typeof http(f)?.url === 'string' && new URL(http(f)!.url).pathname === '/metrics' },
  { name: 'http url regex', body: { whitelist: [{ http_url: ['payments-api'] }] }, expect: (f) => String(http(f)?.url ?? '').includes('payments-api') },
  { name: 'dns query regex', body: { whitelist: [{ dns_query: ['svc\\.cluster\\.local\\.$'] }] }, expect: (f) => /svc\.cluster\.local\.$/.test(String(dns(f)?.query ?? '')) },
  { name: 'event type with sub type', body: { whitelist: [{ event_type: [{ type: 4, match_sub_type: true, sub_type: 3 }] }] }, expect: (f) => f.event_type?.type === 4 && (f.event_type?.sub_type ?? 0) === 3 },
  { name: 'event type l7', body: { whitelist: [{ event_type: [{ type: 129 }] }] }, expect: (f) => f.event_type?.type === 129 },
  { name: 'traffic direction', body: { whitelist: [{ traffic_direction: ['EGRESS'] }] }, expect: (f) => f.traffic_direction === 'EGRESS' },
  { name: 'reply true', body: { whitelist: [{ reply: [true] }] }, expect: (f) => f.is_reply === true },
  { name: 'reply false (drops without is_reply count as false)', body: { whitelist: [{ reply: [false] }] }, expect: (f) => f.is_reply === false || (f.is_reply === undefined && f.verdict === 'DROPPED') },
  { name: 'node name glob', body: { whitelist: [{ node_name: ['gke-*'] }] }, expect: (f) => String(f.node_name ?? '').startsWith('gke-') },
  { name: 'node name cluster/', body: { whitelist: [{ node_name: ['prod-eu1/'] }] }, expect: (f) => String(f.node_name ?? '').startsWith('prod-eu1/') },
  { name: 'node name default/ for cluster-less nodes', body: { whitelist: [{ node_name: ['default/kind-control-plane'] }] }, expect: (f) => f.node_name === 'kind-control-plane' },
  { name: 'identity', body: { whitelist: [{ destination_identity: [2] }] }, expect: (f) => ep(f, 'destination').identity === 2 },
  { name: 'fqdn glob', body: { whitelist: [{ destination_fqdn: ['*.stripe.com'] }] }, expect: (f) => (f.destination_names ?? []).some((n: string) => /^[-a-z0-9_]*\.stripe\.com$/i.test(n)) },
  { name: 'drop reason', body: { whitelist: [{ drop_reason_desc: ['POLICY_DENY'] }] }, expect: (f) => f.drop_reason_desc === 'POLICY_DENY' },
  { name: 'workload by name', body: { whitelist: [{ source_workload: [{ name: 'traffic-generator' }] }] }, expect: (f) => (ep(f, 'source').workloads ?? []).some((w: F) => w.name === 'traffic-generator') },
  { name: 'workload by kind', body: { whitelist: [{ destination_workload: [{ kind: 'StatefulSet' }] }] }, expect: (f) => (ep(f, 'destination').workloads ?? []).some((w: F) => w.kind === 'StatefulSet') },
  { name: 'cluster name', body: { whitelist: [{ source_cluster_name: ['topgun'] }] }, expect: (f) => ep(f, 'source').cluster_name === 'topgun' },
  { name: 'uuid', body: { whitelist: [{ uuid: ['cd75b2ac-8dd3-486b-beca-3d17d9d56cff'] }] }, expect: (f) => f.uuid === 'cd75b2ac-8dd3-486b-beca-3d17d9d56cff' },
  { name: 'interface', body: { whitelist: [{ interface: [{ name: 'eth0' }] }] }, expect: (f) => f.interface?.name === 'eth0' },
  { name: 'node labels selector', body: { whitelist: [{ node_labels: ['topology.kubernetes.io/zone=eu-1a'] }] }, expect: (f) => (f.node_labels ?? []).includes('topology.kubernetes.io/zone=eu-1a') },
  { name: 'service ns/name', body: { whitelist: [{ source_service: ['shop/cart'] }] }, expect: (f) => f.source_service?.namespace === 'shop' && String(f.source_service?.name ?? '').startsWith('cart') },
  { name: 'service whole namespace', body: { whitelist: [{ destination_service: ['shop/'] }] }, expect: (f) => f.destination_service?.namespace === 'shop' },
  { name: 'SNAT source IP (CIDR)', body: { whitelist: [{ source_ip_xlated: ['192.0.2.0/24'] }] }, expect: (f) => inCidr4(f.IP?.source_xlated, '192.0.2.') },
  { name: 'encrypted', body: { whitelist: [{ encrypted: [true] }] }, expect: (f) => f.IP?.encrypted === true },
  { name: 'trace id (re-checked in JS)', body: { whitelist: [{ trace_id: ['4bf92f3577b34da6a3ce929d0e0e4736'] }] }, expect: (f) => f.trace_context?.parent?.trace_id === '4bf92f3577b34da6a3ce929d0e0e4736' },
  { name: 'IP trace id (re-checked in JS)', body: { whitelist: [{ ip_trace_id: ['77'] }] }, expect: (f) => String(f.ip_trace_id?.trace_id ?? '') === '77' },
  { name: 'tcp flags (all listed flags set)', body: { whitelist: [{ tcp_flags: [{ FIN: true, ACK: true }] }] }, expect: (f) => l4(f).TCP?.flags?.FIN === true && l4(f).TCP?.flags?.ACK === true },
  { name: 'ip version', body: { whitelist: [{ ip_version: ['IPv4'] }] }, expect: (f) => f.IP?.ipVersion === 'IPv4' },
  { name: 'AND within a filter', body: { whitelist: [{ source_pod: ['bookinfo/'], protocol: ['tcp'] }] }, expect: (f) => ep(f, 'source').namespace === 'bookinfo' && l4(f).TCP !== undefined },
  { name: 'OR across filters', body: { whitelist: [{ verdict: ['DROPPED'] }, { protocol: ['dns'] }] }, expect: (f) => f.verdict === 'DROPPED' || dns(f) !== undefined },
  { name: 'blacklist subtracts', body: { whitelist: [{ source_pod: ['bookinfo/'] }], blacklist: [{ destination_port: ['9080'] }] }, expect: (f) => ep(f, 'source').namespace === 'bookinfo' && ports(f)?.destination_port !== 9080 },
  { name: 'blacklist only (flows without a source endpoint stay)', body: { blacklist: [{ source_pod: ['bookinfo/'] }] }, expect: (f) => ep(f, 'source').namespace !== 'bookinfo' },
  { name: 'empty filter matches everything', body: { whitelist: [{}] }, expect: () => true },
];
