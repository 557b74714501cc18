/** Cluster of a node name: the part before "/" ("cluster/node"), or "default". */
export function clusterOfNode(nodeName: string): string {
  const slash = nodeName.indexOf('/');
  return slash > 0 ? nodeName.slice(0, slash) : 'default';
}
