import type { JsonObject, JsonValue } from './jsonpb.js';

/** A tree of kept fields: a leaf (true) keeps the whole field. */
type Tree = { [field: string]: Tree | true };

/**
 * GetFlowsRequest.field_mask over a flow: only the listed paths
 * ("source.namespace", "verdict", "l4") are sent. Paths a newer client names
 * that this flowkeeper does not know select nothing and are otherwise ignored,
 * so version skew never fails a request. No paths = the whole flow.
 */
export function compileFieldMask(paths: string[]): ((flow: JsonObject) => JsonObject) | null {
  const usable = paths.map((p) => p.trim()).filter((p) => p !== '');
  if (usable.length === 0) return null;
  const tree: Tree = {};
  for (const path of usable) {
    let node = tree;
    const parts = path.split('.');
    parts.forEach((part, i) => {
      if (node[part] === true) return;
      if (i === parts.length - 1) node[part] = true;
      else node = (node[part] ??= {}) as Tree;
    });
  }
  const project = (value: JsonObject, t: Tree): JsonObject => {
    const out: JsonObject = {};
    for (const [key, sub] of Object.entries(t)) {
      const v = value[key];
      if (v === undefined) continue;
      if (sub === true) out[key] = v;
      else if (v && typeof v === 'object' && !Array.isArray(v)) {
        // A sub-path that selects nothing (an unknown field) leaves the parent out, not empty.
        const inner = project(v as JsonObject, sub);
        if (Object.keys(inner).length > 0) out[key] = inner;
      }
      else if (Array.isArray(v)) out[key] = v.map((e) => (e && typeof e === 'object' && !Array.isArray(e) ? project(e as JsonObject, sub) : e)) as JsonValue;
    }
    return out;
  };
  return (flow) => project(flow, tree);
}
