import { join } from 'node:path';
import type { App } from '../../src/app.js';
import type { JsonObject } from '../../src/flows/jsonpb.js';
import { pushJsonLine, startSim, startTestApp, tempDir, waitFor } from './harness.js';

/**
 * Hand-made flows of known connections for the policy tests: pods of five
 * namespaces, kube-dns, the world; HTTP and DNS records; a reply, a drop,
 * ICMP; one connection made twice.
 */

export const NS_LABELS: Record<string, string[]> = {
  'team-a': ['team=blue'], 'team-b': ['team=blue'], 'team-c': ['team=red'], empire: [], 'kube-system': [],
};

export function pod(namespace: string, app: string, ip: string): JsonObject {
  return {
    identity: 20000 + ip.split('.').map(Number).reduce((a, b) => a + b, 0),
    cluster_name: 'test',
    namespace,
    pod_name: `${app}-0`,
    labels: [
      `k8s:app=${app}`,
      `k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=${namespace}`,
      ...NS_LABELS[namespace].map((l) => `k8s:io.cilium.k8s.namespace.labels.${l}`),
      'k8s:io.cilium.k8s.policy.cluster=test',
      `k8s:io.kubernetes.pod.namespace=${namespace}`,
    ],
    workloads: [{ name: app, kind: 'Deployment' }],
  };
}

export const WORLD = { identity: 2, labels: ['reserved:world'] };
export const P = {
  aApi: ['10.0.0.10', pod('team-a', 'api', '10.0.0.10')],
  aWeb: ['10.0.0.11', pod('team-a', 'web', '10.0.0.11')],
  bWeb: ['10.0.0.20', pod('team-b', 'web', '10.0.0.20')],
  cWeb: ['10.0.0.30', pod('team-c', 'web', '10.0.0.30')],
  deathstar: ['10.0.0.40', pod('empire', 'deathstar', '10.0.0.40')],
  tiefighter: ['10.0.0.41', pod('empire', 'tiefighter', '10.0.0.41')],
  dns: ['10.0.0.53', pod('kube-system', 'kube-dns', '10.0.0.53')],
} as const;

let seq = 0;
export const base = Date.now() - 5 * 60_000;

export interface FlowSpec {
  src: readonly [string, JsonObject] | [string, JsonObject];
  dst: readonly [string, JsonObject] | [string, JsonObject];
  port: number;
  proto?: 'TCP' | 'UDP' | 'ICMPv4';
  verdict?: 'FORWARDED' | 'DROPPED' | 'REDIRECTED';
  reply?: boolean;
  http?: { method: string; url: string };
  dns?: { query: string; ips?: string[] };
  names?: string[];
  direction?: 'INGRESS' | 'EGRESS';
}

export function flow(s: FlowSpec): JsonObject {
  seq++;
  const time = new Date(base + seq * 7).toISOString().replace('Z', '123456Z');
  const [srcIp, src] = s.reply ? s.dst : s.src;
  const [dstIp, dst] = s.reply ? s.src : s.dst;
  const proto = s.proto ?? 'TCP';
  const ports = s.reply ? { source_port: s.port, destination_port: 40000 + seq } : { source_port: 40000 + seq, destination_port: s.port };
  const l4 = proto === 'ICMPv4' ? { ICMPv4: { type: s.port, code: 0 } } : { [proto]: ports };
  const dropped = s.verdict === 'DROPPED';
  const l7: JsonObject = s.http ? { l7: { type: s.reply ? 'RESPONSE' : 'REQUEST', http: { ...s.http, protocol: 'HTTP/1.1' } } }
    : s.dns ? { l7: { type: s.reply ? 'RESPONSE' : 'REQUEST', dns: { query: s.dns.query, ips: s.dns.ips ?? [] } } } : {};
  const f: JsonObject = {
    time,
    uuid: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    verdict: s.verdict ?? 'FORWARDED',
    ...(dropped ? { drop_reason_desc: 'POLICY_DENIED' } : {}),
    IP: { source: srcIp, destination: dstIp, ipVersion: 'IPv4' },
    l4,
    source: src,
    destination: dst,
    Type: s.http || s.dns ? 'L7' : 'L3_L4',
    node_name: 'test/node-1',
    is_reply: s.reply ?? false,
    traffic_direction: s.direction ?? 'INGRESS',
    event_type: { type: s.http || s.dns ? 129 : dropped ? 1 : 4 },
    ...(s.names ? { [s.reply ? 'source_names' : 'destination_names']: s.names } : {}),
    ...l7,
  };
  return { flow: f, node_name: 'test/node-1', time };
}

export const world = (ip: string): [string, JsonObject] => [ip, WORLD];

/** The recorded traffic: every connection the tests judge, each with a distinct port or address. */
export const CORPUS: JsonObject[] = [
  // Namespaces and CNP/CCNP scoping: web pods of three namespaces call team-a's api.
  flow({ src: P.aWeb, dst: P.aApi, port: 8080 }),
  flow({ src: P.aWeb, dst: P.aApi, port: 8080, reply: true }),
  flow({ src: P.bWeb, dst: P.aApi, port: 8080 }),
  flow({ src: P.cWeb, dst: P.aApi, port: 8080 }),
  flow({ src: P.cWeb, dst: P.aApi, port: 8080, verdict: 'DROPPED' }),
  // L7: the deathstar takes landing requests; someone also tried the exhaust port (it was let through).
  flow({ src: P.tiefighter, dst: P.deathstar, port: 80, http: { method: 'POST', url: 'http://deathstar.empire.svc.cluster.local/v1/request-landing' } }),
  flow({ src: P.tiefighter, dst: P.deathstar, port: 80, http: { method: 'PUT', url: 'http://deathstar.empire.svc.cluster.local/v1/exhaust-port' } }),
  flow({ src: P.tiefighter, dst: P.deathstar, port: 80, verdict: 'REDIRECTED' }),
  // DNS: team-a/api resolves api.github.com through kube-dns; the answer is in the history.
  flow({ src: P.aApi, dst: P.dns, port: 53, proto: 'UDP', dns: { query: 'api.github.com.' }, direction: 'EGRESS' }),
  flow({ src: P.aApi, dst: P.dns, port: 53, proto: 'UDP', dns: { query: 'api.github.com.', ips: ['140.82.121.4'] }, reply: true, direction: 'EGRESS' }),
  flow({ src: P.aApi, dst: P.dns, port: 53, proto: 'UDP', dns: { query: 'evil.example.org.' }, direction: 'EGRESS' }),
  // World egress: named by Hubble, named only by the DNS answer above, and unnamed.
  flow({ src: P.aApi, dst: world('52.84.12.33'), port: 443, names: ['api.stripe.com'], direction: 'EGRESS' }),
  flow({ src: P.aApi, dst: world('140.82.121.4'), port: 443, direction: 'EGRESS' }),
  flow({ src: P.aApi, dst: world('198.51.100.23'), port: 443, direction: 'EGRESS' }),
  // CIDRs and denies: team-b/web reaches out to addresses inside and outside an except, and to a blocked range.
  flow({ src: P.bWeb, dst: world('192.0.2.10'), port: 443, direction: 'EGRESS' }),
  flow({ src: P.bWeb, dst: world('192.0.2.200'), port: 443, direction: 'EGRESS' }),
  flow({ src: P.bWeb, dst: world('203.0.113.77'), port: 443, direction: 'EGRESS' }),
  // ICMP: pings from team-b/web to the world, and a timestamp request.
  flow({ src: P.bWeb, dst: world('192.0.2.10'), port: 8, proto: 'ICMPv4', direction: 'EGRESS' }),
  flow({ src: P.bWeb, dst: world('192.0.2.10'), port: 13, proto: 'ICMPv4', direction: 'EGRESS' }),
  // One connection made twice (two source ports): two flows of one class.
  flow({ src: P.tiefighter, dst: world('192.0.2.99'), port: 8443, direction: 'EGRESS' }),
  flow({ src: P.tiefighter, dst: world('192.0.2.99'), port: 8443, direction: 'EGRESS' }),
];


/** A real flowkeeper (relay stand-in, SQLite file, HTTP API) holding the corpus; `stop` stops and removes everything, whatever was started. */
export async function serveCorpus(): Promise<{ app: App; dbPath: string; stop: () => Promise<void> }> {
  const dir = tempDir();
  let started: Awaited<ReturnType<typeof startSim>> | undefined;
  let app: App | undefined;
  const stop = async (): Promise<void> => {
    await app?.stop();
    await started?.sim.close();
    dir.cleanup();
  };
  try {
    started = await startSim();
    for (const line of CORPUS) pushJsonLine(started.sim, line);
    const dbPath = join(dir.dir, 'fk.db');
    app = await startTestApp(started.port, dbPath);
    const running = app;
    await waitFor('the corpus stored', () => running.pipeline.stats.stored === CORPUS.length, 20_000);
    return { app, dbPath, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
