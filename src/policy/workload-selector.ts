import { parseLabel } from '../query/labels.js';

/**
 * The matchLabels a suggested policy selects one workload's pods with: the
 * labels all its observed identities share, narrowed to the usual workload
 * labels (app, app.kubernetes.io/name, …) when those alone do not select any
 * other workload seen in the same namespace.
 */

/** Labels that say where a pod is or how it was rolled out, not which workload it is. */
const NOT_WORKLOAD = [
  /^io\.kubernetes\.pod\.namespace$/, /^io\.cilium\.k8s\.namespace\.labels\./, /^io\.cilium\.k8s\.policy\.cluster$/,
  /^io\.cilium\.k8s\.policy\.serviceaccount$/, /^pod-template-hash$/, /^controller-revision-hash$/, /^pod-template-generation$/,
  /^statefulset\.kubernetes\.io\/pod-name$/, /^apps\.kubernetes\.io\/pod-index$/, /^batch\.kubernetes\.io\//, /^controller-uid$/, /^job-name$/,
];

/** Labels that name a workload, in the order people use them. */
const WORKLOAD_KEYS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component', 'app', 'k8s-app', 'component', 'name', 'run'];

export type MatchLabels = Record<string, string>;

/** The k8s labels of one identity that can tell workloads apart ("k8s:app=web" → app: web). */
export function workloadLabels(labels: readonly string[]): MatchLabels {
  const out: MatchLabels = {};
  for (const { source, key, value } of labels.map(parseLabel)) {
    if (source !== 'k8s' || key === '' || NOT_WORKLOAD.some((re) => re.test(key))) continue;
    out[key] = value;
  }
  return out;
}

function selects(selector: MatchLabels, labels: MatchLabels): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Labels shared by every identity of a workload. */
function shared(sets: readonly MatchLabels[]): MatchLabels {
  const [first, ...rest] = sets;
  return Object.fromEntries(Object.entries(first ?? {}).filter(([k, v]) => rest.every((s) => s[k] === v)));
}

export interface WorkloadSelector {
  matchLabels: MatchLabels;
  /** Other workloads of the namespace the labels also select (empty when the selector is exact) */
  alsoSelects: string[];
}

/**
 * The selector for a workload given its identities' labels and those of the
 * other workloads seen in its namespace; null when it shares no label at all.
 */
export function selectorFor(own: readonly MatchLabels[], others: ReadonlyMap<string, readonly MatchLabels[]>): WorkloadSelector | null {
  const all = shared(own);
  if (Object.keys(all).length === 0) return null;
  const overlap = (sel: MatchLabels): string[] => [...others].filter(([, sets]) => sets.some((s) => selects(sel, s))).map(([name]) => name);
  const named = Object.fromEntries(WORKLOAD_KEYS.filter((k) => k in all).map((k) => [k, all[k]]));
  if (Object.keys(named).length > 0 && overlap(named).length === 0) return { matchLabels: named, alsoSelects: [] };
  return { matchLabels: all, alsoSelects: overlap(all) };
}
