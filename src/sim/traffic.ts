import { Random } from './random.js';
import {
  EXTERNAL_HOSTS, HOST_ENDPOINT, POLICIES, WORLD_ENDPOINT, buildTopology, podEndpoint,
} from './topology.js';
import type { SimPod, SimWorkload } from './topology.js';

type Plain = Record<string, unknown>;

// Enum numbers (proto/flow/flow.proto).
const FORWARDED = 1, DROPPED = 2, AUDIT = 4, REDIRECTED = 5;
const L3_L4 = 1, L7 = 2;
const INGRESS = 1, EGRESS = 2;
const TO_ENDPOINT = 101, TO_STACK = 3;
const EV_DROP = 1, EV_TRACE = 4, EV_POLICY = 5, EV_L7 = 129;
const REQUEST = 1, RESPONSE = 2;

/** One generated flow: the protobufjs plain Flow plus its time. */
export interface SimFlow {
  seconds: number;
  nanos: number;
  flow: Plain;
}

/**
 * Generates realistic Hubble flows for the simulated cluster: HTTP between
 * teams, DNS to coredns, scrapes, world traffic, policy denials (named
 * policies and default-deny) and datapath drops with several reasons.
 */
export class TrafficGenerator {
  private readonly rnd: Random;
  private readonly byName = new Map<string, SimWorkload>();
  private readonly scenarios: [number, () => Plain[]][];
  private readonly totalWeight: number;

  constructor(seed = 1) {
    this.rnd = new Random(seed);
    for (const w of buildTopology()) this.byName.set(w.name, w);
    this.scenarios = [
      [30, () => this.http('web', 'catalog-api', 8080, 'GET', this.rnd.pick(['/api/products', '/api/products/42', '/api/search?q=shoes']), this.status(this.rnd.next(), [[0.03, 500], [0.08, 404]], 200))],
      [14, () => this.http('checkout-api', 'payments-api', 8443, 'POST', '/v1/charge', this.status(this.rnd.next(), [[0.08, 503], [0.12, 422]], 201))],
      [18, () => this.dns(this.rnd.pick(['web', 'checkout-api', 'payments-worker', 'catalog-api']))],
      [8, () => this.http('prometheus', this.rnd.pick(['web', 'checkout-api', 'payments-api', 'catalog-api']), 9090, 'GET', '/metrics', 200)],
      [8, () => this.tcp('catalog-api', 'catalog-db', 5432, FORWARDED)],
      [6, () => this.toWorld('payments-worker', EXTERNAL_HOSTS[0])],
      [4, () => this.fromWorld('web', 443)],
      [4, () => this.denied('web', 'payments-api', 8443, INGRESS, POLICIES.paymentsIngress)],
      [3, () => this.denied('web', 'catalog-db', 5432, INGRESS, null)],
      [2, () => this.egressDenied('payments-worker', EXTERNAL_HOSTS[3])],
      [2, () => this.datapathDrop()],
      [1, () => this.audit('checkout-api', 'catalog-db', 5432)],
    ];
    this.totalWeight = this.scenarios.reduce((s, [w]) => s + w, 0);
  }

  /** The flows of the next event (one scenario produces 1–4 flows), stamped from `startNs`. */
  next(nowMs: number): SimFlow[] {
    let roll = this.rnd.next() * this.totalWeight;
    let make = this.scenarios[0][1];
    for (const [w, fn] of this.scenarios) {
      roll -= w;
      if (roll < 0) {
        make = fn;
        break;
      }
    }
    const seconds = Math.floor(nowMs / 1000);
    let nanos = (nowMs - seconds * 1000) * 1e6 + this.rnd.int(999_000);
    return make().map((flow) => {
      nanos += 1 + this.rnd.int(900);
      const t = { seconds: seconds + Math.floor(nanos / 1e9), nanos: Math.floor(nanos % 1e9) };
      flow.time = t;
      flow.uuid = this.rnd.uuid();
      flow.emitter = { name: 'Hubble', version: '1.19.4' };
      return { seconds: t.seconds, nanos: t.nanos, flow };
    });
  }

  private pod(name: string): SimPod {
    return this.rnd.pick(this.byName.get(name)!.pods);
  }

  private base(src: SimPod | null, dst: SimPod | null, node: string, l4: Plain, srcIp: string, dstIp: string): Plain {
    return {
      IP: { source: srcIp, destination: dstIp, ipVersion: 1 },
      l4,
      source: src ? podEndpoint(src) : WORLD_ENDPOINT,
      destination: dst ? podEndpoint(dst) : WORLD_ENDPOINT,
      node_name: node,
      Type: L3_L4,
    };
  }

  private tcpL4(sport: number, dport: number, flags: Plain): Plain {
    return { TCP: { source_port: sport, destination_port: dport, flags } };
  }

  private ephemeral(): number {
    return 32768 + this.rnd.int(28000);
  }

  private trace(flow: Plain, point: number, direction: number, reply: boolean, summary: string): Plain {
    return {
      ...flow,
      verdict: FORWARDED,
      event_type: { type: EV_TRACE, sub_type: point === TO_ENDPOINT ? 0 : point },
      trace_observation_point: point,
      traffic_direction: direction,
      is_reply: { value: reply },
      Summary: summary,
    };
  }

  private tcp(from: string, to: string, port: number, verdict: number): Plain[] {
    const s = this.pod(from);
    const d = this.pod(to);
    const sport = this.ephemeral();
    const f = this.base(s, d, d.node, this.tcpL4(sport, port, { SYN: true }), s.ip, d.ip);
    const syn = this.trace(f, TO_ENDPOINT, INGRESS, false, 'TCP Flags: SYN');
    syn.verdict = verdict;
    const back = this.base(d, s, d.node, this.tcpL4(port, sport, { SYN: true, ACK: true }), d.ip, s.ip);
    return [syn, this.trace(back, TO_STACK, EGRESS, true, 'TCP Flags: SYN, ACK')];
  }

  /** An HTTP status from one random draw: the first [threshold, code] the draw falls under, else `ok`. */
  private status(draw: number, errors: [number, number][], ok: number): number {
    return errors.find(([below]) => draw < below)?.[1] ?? ok;
  }

  private http(from: string, to: string, port: number, method: string, path: string, code: number): Plain[] {
    const s = this.pod(from);
    const d = this.pod(to);
    const sport = this.ephemeral();
    const url = `http://${to}.${d.workload.namespace}.svc.cluster.local:${port}${path}`;
    const req = this.base(s, d, d.node, this.tcpL4(sport, port, {}), s.ip, d.ip);
    const l7 = (type: number, http: Plain, latency?: number): Plain => ({
      ...req,
      Type: L7,
      verdict: FORWARDED,
      event_type: { type: EV_L7 },
      traffic_direction: INGRESS,
      l7: { type, ...(latency ? { latency_ns: latency } : {}), http: { method, url, protocol: 'HTTP/1.1', ...http } },
    });
    const latency = 1_000_000 + this.rnd.int(code >= 500 ? 900_000_000 : 40_000_000);
    const request = { ...l7(REQUEST, { headers: [{ key: 'x-request-id', value: this.rnd.uuid() }] }), is_reply: { value: false }, Summary: `HTTP/1.1 ${method} ${url}` };
    const response = {
      ...l7(RESPONSE, { code }, latency),
      IP: { source: d.ip, destination: s.ip, ipVersion: 1 },
      l4: this.tcpL4(port, sport, {}),
      source: podEndpoint(d),
      destination: podEndpoint(s),
      is_reply: { value: true },
      Summary: `HTTP/1.1 ${code} ${Math.round(latency / 1e6)}ms (${method} ${url})`,
    };
    const redirect = { ...this.trace(req, 1, INGRESS, false, 'TCP Flags: ACK, PSH'), verdict: REDIRECTED, event_type: { type: EV_POLICY }, policy_match_type: 2, ingress_allowed_by: to === 'catalog-api' ? [POLICIES.catalogAllow] : [] };
    return [redirect, request, response];
  }

  private dns(from: string): Plain[] {
    const s = this.pod(from);
    const d = this.pod('coredns');
    const sport = this.ephemeral();
    const name = this.rnd.pick(['catalog-api.catalog.svc.cluster.local.', 'payments-api.payments.svc.cluster.local.', 'api.stripe.com.', 'api.github.com.']);
    const q = { ...this.base(s, d, s.node, { UDP: { source_port: sport, destination_port: 53 } }, s.ip, d.ip), Type: L7, verdict: FORWARDED, event_type: { type: EV_L7 }, traffic_direction: EGRESS };
    const rcode = this.rnd.next() < 0.05 ? 3 : 0;
    return [
      { ...q, l7: { type: REQUEST, dns: { query: name, observation_source: 'proxy', qtypes: ['A'] } }, is_reply: { value: false }, Summary: `DNS Query ${name} A` },
      {
        ...q,
        IP: { source: d.ip, destination: s.ip, ipVersion: 1 },
        l4: { UDP: { source_port: 53, destination_port: sport } },
        source: podEndpoint(d),
        destination: podEndpoint(s),
        l7: { type: RESPONSE, latency_ns: 200_000 + this.rnd.int(3_000_000), dns: { query: name, ips: rcode ? [] : ['10.96.0.12'], ttl: 30, rcode, observation_source: 'proxy', qtypes: ['A'], rrtypes: rcode ? [] : ['A'] } },
        is_reply: { value: true },
        Summary: rcode ? `DNS Answer RCode: Non-Existent Domain (Proxy ${name} A)` : `DNS Answer "10.96.0.12" TTL: 30 (Proxy ${name} A)`,
      },
    ];
  }

  private toWorld(from: string, host: { ip: string; names: string[] }): Plain[] {
    const s = this.pod(from);
    const f = { ...this.base(s, null, s.node, this.tcpL4(this.ephemeral(), 443, { SYN: true }), s.ip, host.ip), destination_names: host.names };
    return [this.trace(f, TO_STACK, EGRESS, false, 'TCP Flags: SYN')];
  }

  private fromWorld(to: string, port: number): Plain[] {
    const d = this.pod(to);
    const src = `198.51.100.${1 + this.rnd.int(200)}`;
    const f = this.base(null, d, d.node, this.tcpL4(this.ephemeral(), port, { SYN: true }), src, d.ip);
    return [this.trace(f, TO_ENDPOINT, INGRESS, false, 'TCP Flags: SYN')];
  }

  /** A policy denial: a policy-verdict event naming the policy (or none: default deny) and the drop. */
  private denied(from: string, to: string, port: number, direction: number, policy: Plain | null): Plain[] {
    const s = this.pod(from);
    const d = this.pod(to);
    const f = this.base(s, d, direction === INGRESS ? d.node : s.node, this.tcpL4(this.ephemeral(), port, { SYN: true }), s.ip, d.ip);
    const reason = policy ? 181 : 133;
    const common = { ...f, verdict: DROPPED, drop_reason: reason, drop_reason_desc: reason, traffic_direction: direction, is_reply: { value: false }, Summary: 'TCP Flags: SYN' };
    const verdict = { ...common, event_type: { type: EV_POLICY }, policy_match_type: policy ? 2 : 0, ...(policy ? { [direction === INGRESS ? 'ingress_denied_by' : 'egress_denied_by']: [policy], policy_log: [''] } : {}) };
    return [verdict, { ...common, event_type: { type: EV_DROP, sub_type: reason } }];
  }

  private egressDenied(from: string, host: { ip: string; names: string[] }): Plain[] {
    const s = this.pod(from);
    const f = { ...this.base(s, null, s.node, this.tcpL4(this.ephemeral(), 443, { SYN: true }), s.ip, host.ip), destination_names: host.names };
    // Like an ingress denial, the datapath sends the policy-verdict notification and the drop notification.
    const common = { ...f, verdict: DROPPED, drop_reason: 181, drop_reason_desc: 181, traffic_direction: EGRESS, is_reply: { value: false }, Summary: 'TCP Flags: SYN' };
    return [
      { ...common, event_type: { type: EV_POLICY }, policy_match_type: 1, egress_denied_by: [POLICIES.egressDeny] },
      { ...common, event_type: { type: EV_DROP, sub_type: 181 } },
    ];
  }

  private datapathDrop(): Plain[] {
    const reason = this.rnd.pick([151, 155, 132, 139, 158]);
    const d = this.pod(this.rnd.pick(['web', 'catalog-api', 'checkout-api']));
    const fromWorld = reason === 132;
    const src = fromWorld ? null : this.pod('web');
    const f = this.base(src, d, d.node, { UDP: { source_port: this.ephemeral(), destination_port: 8080 } }, src ? src.ip : '', d.ip);
    if (!src) {
      // Spoofed IPv6 neighbour traffic, like the INVALID_SOURCE_IP drop in Cilium's export docs.
      f.source = HOST_ENDPOINT;
      f.IP = { source: `fe80::${(0x1000 + this.rnd.int(0xefff)).toString(16)}`, destination: 'ff02::1', ipVersion: 2 };
      f.l4 = { ICMPv6: { type: 135, code: 0 } };
    }
    return [{ ...f, verdict: DROPPED, drop_reason: reason, drop_reason_desc: reason, event_type: { type: EV_DROP, sub_type: reason }, traffic_direction: INGRESS, file: { name: 'bpf_lxc.c', line: 1300 + reason }, Summary: src ? 'UDP' : 'ICMPv6 NeighborSolicitation' }];
  }

  private audit(from: string, to: string, port: number): Plain[] {
    const s = this.pod(from);
    const d = this.pod(to);
    const f = this.base(s, d, d.node, this.tcpL4(this.ephemeral(), port, { SYN: true }), s.ip, d.ip);
    return [{ ...f, verdict: AUDIT, event_type: { type: EV_POLICY }, traffic_direction: INGRESS, policy_match_type: 0, is_reply: { value: false }, Summary: 'TCP Flags: SYN' }];
  }
}
