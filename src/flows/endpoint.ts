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

/** A workload as rollups, aggregates and metrics group it. */
export interface WorkloadNames {
  cluster: string;
  namespace: string;
  name: string;
  kind: string;
}

/** No workload: a flow without that endpoint. */
export const NO_WORKLOAD: WorkloadNames = { cluster: '', namespace: '', name: '', kind: '' };

/**
 * The workload an endpoint belongs to, as rollups and metrics group it: its
 * cluster, namespace and first workload (Hubble's `workload-name` context uses
 * the first one too). Endpoints without workloads (older Cilium, world, host)
 * group by namespace alone.
 */
export function workloadOf(ep: EndpointInfo): WorkloadNames {
  const first = ep.workloads[0];
  return { cluster: ep.cluster_name, namespace: ep.namespace, name: first?.name ?? '', kind: first?.kind ?? '' };
}
