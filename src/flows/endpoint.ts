import { EndpointType } from './schema.js';

/** A decoded flow.Endpoint with proto3 defaults filled in. */
export interface EndpointInfo {
  ID: number;
  identity: number;
  cluster_name: string;
  namespace: string;
  labels: string[];
  pod_name: string;
  workloads: { name: string; kind: string }[];
}

export function decodeEndpoint(raw: Uint8Array): EndpointInfo {
  const m = EndpointType.toObject(EndpointType.decode(raw), { defaults: true, arrays: true }) as EndpointInfo;
  m.workloads = m.workloads.map((w) => ({ name: w.name ?? '', kind: w.kind ?? '' }));
  return m;
}

/**
 * The workload an endpoint belongs to, as rollups and metrics group it: its
 * cluster, namespace and first workload (Hubble's `workload-name` context uses
 * the first one too). Endpoints without workloads (older Cilium, world, host)
 * group by namespace alone.
 */
export function workloadOf(ep: EndpointInfo): { cluster: string; namespace: string; name: string; kind: string } {
  const first = ep.workloads[0];
  return { cluster: ep.cluster_name, namespace: ep.namespace, name: first?.name ?? '', kind: first?.kind ?? '' };
}
