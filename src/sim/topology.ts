/**
 * The simulated cluster behind the demo relay: teams in namespaces, workloads
 * with pods, the world outside, and the policies that deny some of it.
 */

export interface SimWorkload {
  namespace: string;
  name: string;
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  app: string;
  identity: number;
  pods: SimPod[];
}

export interface SimPod {
  workload: SimWorkload;
  name: string;
  ip: string;
  node: string;
  endpointId: number;
}

export const CLUSTER = 'prod-eu1';
export const NODES = ['node-a', 'node-b', 'node-c'].map((n) => `${CLUSTER}/${n}`);

const WORKLOADS: [string, string, SimWorkload['kind'], number][] = [
  ['frontend', 'web', 'Deployment', 3],
  ['checkout', 'checkout-api', 'Deployment', 2],
  ['payments', 'payments-api', 'Deployment', 2],
  ['payments', 'payments-worker', 'Deployment', 2],
  ['catalog', 'catalog-api', 'Deployment', 2],
  ['catalog', 'catalog-db', 'StatefulSet', 1],
  ['kube-system', 'coredns', 'Deployment', 2],
  ['monitoring', 'prometheus', 'StatefulSet', 1],
];

function podSuffix(i: number, kind: SimWorkload['kind']): string {
  if (kind === 'StatefulSet') return String(i);
  const chars = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '7f9c5d8b4-';
  for (let k = 0; k < 5; k++) s += chars[(i * 7 + k * 13) % chars.length];
  return s;
}

export function buildTopology(): SimWorkload[] {
  let podIndex = 0;
  return WORKLOADS.map(([namespace, name, kind, replicas], w) => {
    const workload: SimWorkload = { namespace, name, kind, app: name, identity: 10_000 + w * 97, pods: [] };
    for (let i = 0; i < replicas; i++) {
      podIndex++;
      workload.pods.push({
        workload,
        name: `${name}-${podSuffix(i, kind)}`,
        ip: `10.0.${1 + (podIndex % 3)}.${10 + podIndex}`,
        node: NODES[podIndex % NODES.length],
        endpointId: 100 + podIndex * 11,
      });
    }
    return workload;
  });
}

/** The endpoint of a pod as Hubble reports it (protobufjs plain object). */
export function podEndpoint(pod: SimPod): Record<string, unknown> {
  const w = pod.workload;
  return {
    ID: pod.endpointId,
    identity: w.identity,
    cluster_name: CLUSTER,
    namespace: w.namespace,
    labels: [
      `k8s:app=${w.app}`,
      `k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=${w.namespace}`,
      `k8s:io.cilium.k8s.policy.cluster=${CLUSTER}`,
      `k8s:io.cilium.k8s.policy.serviceaccount=${w.name}`,
      `k8s:io.kubernetes.pod.namespace=${w.namespace}`,
    ],
    pod_name: pod.name,
    workloads: [{ name: w.name, kind: w.kind }],
  };
}

export const WORLD_ENDPOINT = { identity: 2, labels: ['reserved:world'] };
export const HOST_ENDPOINT = { identity: 1, labels: ['reserved:host'] };

export const EXTERNAL_HOSTS = [
  { ip: '52.84.12.33', names: ['api.stripe.com'] },
  { ip: '140.82.121.4', names: ['api.github.com'] },
  { ip: '198.51.100.23', names: [] as string[] },
  { ip: '203.0.113.77', names: ['exfil.example.net'] },
];

export const POLICIES = {
  paymentsIngress: {
    name: 'payments-allow-checkout-only',
    namespace: 'payments',
    labels: ['k8s:io.cilium.k8s.policy.name=payments-allow-checkout-only', 'k8s:io.cilium.k8s.policy.namespace=payments'],
    revision: 12,
    kind: 'CiliumNetworkPolicy',
  },
  egressDeny: {
    name: 'deny-unknown-egress',
    labels: ['k8s:io.cilium.k8s.policy.name=deny-unknown-egress'],
    revision: 4,
    kind: 'CiliumClusterwideNetworkPolicy',
  },
  catalogAllow: {
    name: 'catalog-allow-frontend',
    namespace: 'catalog',
    labels: ['k8s:io.cilium.k8s.policy.name=catalog-allow-frontend', 'k8s:io.cilium.k8s.policy.namespace=catalog'],
    revision: 3,
    kind: 'CiliumNetworkPolicy',
  },
};
