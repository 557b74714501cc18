import { FlowkeeperError } from '../errors.js';

/**
 * Kubernetes label selectors over Cilium label strings ("source:key=value"),
 * as Hubble's label filters use them: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
 * `k notin (a,b)`, `k`, `!k`, comma = AND. A key may carry a Cilium source
 * prefix (`k8s:app`, `reserved:world`); without one it matches any source.
 */
type Requirement =
  | { op: 'in' | 'notin'; source: string | null; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; source: string | null; key: string };

export type LabelSelector = (labels: readonly string[]) => boolean;

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

const KEY = /^[A-Za-z0-9][-A-Za-z0-9_./]*(?::[-A-Za-z0-9_./]+)?$/;

function splitKey(raw: string, parameter: string): { source: string | null; key: string } {
  const key = raw.trim();
  if (!KEY.test(key)) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: "${raw}" is not a label key`, parameter);
  const colon = key.indexOf(':');
  if (colon < 0) return { source: null, key };
  const source = key.slice(0, colon);
  return { source: source === 'any' ? null : source, key: key.slice(colon + 1) };
}

function parseRequirement(text: string, parameter: string): Requirement {
  let m = /^(.+?)\s+(in|notin)\s*\((.*)\)$/.exec(text);
  if (m) {
    const values = m[3].split(',').map((v) => v.trim()).filter(Boolean);
    return { op: m[2] as 'in' | 'notin', ...splitKey(m[1], parameter), values };
  }
  m = /^(.+?)\s*(==|!=|=)\s*(.*)$/.exec(text);
  if (m) return { op: m[2] === '!=' ? 'notin' : 'in', ...splitKey(m[1], parameter), values: [m[3].trim()] };
  if (text.startsWith('!')) return { op: 'notexists', ...splitKey(text.slice(1), parameter) };
  return { op: 'exists', ...splitKey(text, parameter) };
}

/** Parsed form of one Cilium label string. */
function parseLabel(label: string): { source: string; key: string; value: string } {
  const colon = label.indexOf(':');
  const eq = label.indexOf('=', colon + 1);
  const source = colon >= 0 ? label.slice(0, colon) : 'unspec';
  const key = label.slice(colon + 1, eq >= 0 ? eq : undefined);
  return { source, key, value: eq >= 0 ? label.slice(eq + 1) : '' };
}

export function parseLabelSelector(text: string, parameter: string): LabelSelector {
  const reqs = splitTopLevel(text).map((p) => parseRequirement(p, parameter));
  if (reqs.length === 0) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: empty label selector`, parameter);
  return (labels) => {
    const parsed = labels.map(parseLabel);
    return reqs.every((r) => {
      const found = parsed.filter((l) => l.key === r.key && (r.source === null || l.source === r.source));
      switch (r.op) {
        case 'exists':
          return found.length > 0;
        case 'notexists':
          return found.length === 0;
        case 'in':
          return found.some((l) => r.values.includes(l.value));
        case 'notin':
          return !found.some((l) => r.values.includes(l.value));
      }
    });
  };
}
