import { FlowkeeperError } from '../errors.js';
import { parsePrefix, prefixContains } from './addresses.js';

/**
 * Kubernetes label selectors over Cilium label strings ("source:key=value"),
 * as Hubble's label filters use them: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
 * `k notin (a,b)`, `k`, `!k`, comma = AND. A key may carry a Cilium source
 * prefix (`k8s:app`, `reserved:world`); without one it matches any source.
 */
type Requirement =
  | { op: 'in' | 'notin'; source: string | null; key: string; values: string[] }
  | { op: 'gt' | 'lt'; source: string | null; key: string; bound: number }
  | { op: 'exists' | 'notexists'; source: string | null; key: string };

export type LabelSelector = (labels: readonly string[]) => boolean;

/** Longest label selector accepted (Kubernetes keys are ≤ 317 characters, values ≤ 63). */
export const MAX_SELECTOR_LENGTH = 4096;

function bad(parameter: string, message: string): never {
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: ${message}`, parameter);
}

/** Splits on commas outside parentheses, in one pass. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

const KEY_CHAR = /[-A-Za-z0-9_./:]/;
const VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const KEY = /^[A-Za-z0-9][-A-Za-z0-9_./]*(?::[-A-Za-z0-9_./]+)?$/;

function splitKey(raw: string, parameter: string): { source: string | null; key: string } {
  const key = raw.trim();
  if (!KEY.test(key)) bad(parameter, `${JSON.stringify(key.slice(0, 100))} is not a label key`);
  const colon = key.indexOf(':');
  if (colon < 0) return { source: null, key };
  const source = key.slice(0, colon);
  return { source: source === 'any' ? null : source, key: key.slice(colon + 1) };
}

function value(raw: string, parameter: string): string {
  const v = raw.trim();
  if (!VALUE.test(v)) bad(parameter, `${JSON.stringify(v.slice(0, 100))} is not a label value (alphanumerics, "-", "_", ".", at most 63)`);
  return v;
}

/** One requirement, read left to right with no backtracking: key, then an operator, then value(s). */
function parseRequirement(text: string, parameter: string): Requirement {
  if (text.startsWith('!')) return { op: 'notexists', ...splitKey(text.slice(1), parameter) };
  let end = 0;
  while (end < text.length && KEY_CHAR.test(text[end])) end++;
  const key = splitKey(text.slice(0, end), parameter);
  const rest = text.slice(end).trimStart();
  if (rest === '') return { op: 'exists', ...key };
  for (const [op, kind] of [['!=', 'notin'], ['==', 'in'], ['=', 'in']] as const) {
    if (rest.startsWith(op)) return { op: kind, ...key, values: [value(rest.slice(op.length), parameter)] };
  }
  for (const op of ['>', '<'] as const) {
    if (!rest.startsWith(op)) continue;
    const n = rest.slice(1).trim();
    if (!/^-?[0-9]{1,15}$/.test(n)) bad(parameter, `"${op}" needs an integer value`);
    return { op: op === '>' ? 'gt' : 'lt', ...key, bound: Number(n) };
  }
  const set = /^(in|notin)\s*\(/.exec(rest);
  if (set && rest.endsWith(')')) {
    const inner = rest.slice(set[0].length, -1);
    // "k notin ()" is an empty set, as Hubble's selector parser reads it.
    const values = inner.trim() === '' ? [] : inner.split(',').map((v) => value(v, parameter));
    return { op: set[1] as 'in' | 'notin', ...key, values };
  }
  return bad(parameter, `cannot read ${JSON.stringify(text.slice(0, 100))} as a label requirement (k, !k, k=v, k!=v, k in (a,b), k notin (a,b), k>n, k<n)`);
}

/** A Cilium label "source:key=value" in its parts (no source: "unspec"). */
export function parseLabel(label: string): { source: string; key: string; value: string } {
  const colon = label.indexOf(':');
  const eq = label.indexOf('=', colon + 1);
  const source = colon >= 0 ? label.slice(0, colon) : 'unspec';
  const key = label.slice(colon + 1, eq >= 0 ? eq : undefined);
  return { source, key, value: eq >= 0 ? label.slice(eq + 1) : '' };
}

/**
 * Cilium's CIDR labels (`cidr:10.0.0.0/24`, IPv6 with "-" for ":") match a
 * selector key whose prefix contains theirs: `cidr:10.0.0.0/8` selects
 * `cidr:10.1.2.0/24` (pkg/labels Label.HasKey).
 */
function cidrContains(selectorKey: string, labelKey: string): boolean {
  const outer = parsePrefix(selectorKey.replace(/-/g, ':'));
  const inner = parsePrefix(labelKey.replace(/-/g, ':'));
  return outer !== null && inner !== null && outer.bits <= inner.bits && prefixContains(outer, inner.bytes);
}

export function parseLabelSelector(text: string, parameter: string): LabelSelector {
  if (text.length > MAX_SELECTOR_LENGTH) bad(parameter, `label selector longer than ${MAX_SELECTOR_LENGTH} characters`);
  // The empty selector selects everything (Kubernetes' labels.Everything()).
  if (text.trim() === '') return () => true;
  return selectorOf(splitTopLevel(text).map((p) => (p === '' ? bad(parameter, 'empty requirement between commas') : parseRequirement(p, parameter))));
}

/** Operators of a Kubernetes LabelSelector's matchExpressions. */
export type ExpressionOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One matchLabels entry or matchExpressions item, as a policy's YAML writes it. */
export interface LabelExpression {
  key: string;
  operator: ExpressionOperator;
  values: string[];
}

/**
 * A structured selector (matchLabels plus matchExpressions, ANDed), with the
 * same key rules as the text form: a key may carry a Cilium source prefix, and
 * without one (or with `any:`) matches labels of any source.
 */
export function selectorFromExpressions(expressions: readonly LabelExpression[], parameter: string): LabelSelector {
  const ops = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: 'notexists' } as const;
  return selectorOf(expressions.map((e): Requirement => {
    const key = splitKey(e.key, parameter);
    const op = ops[e.operator];
    if (op === 'exists' || op === 'notexists') return { op, ...key };
    return { op, ...key, values: e.values.map((v) => value(v, parameter)) };
  }));
}

/**
 * The labels last parsed, and their parts: policy replay asks every rule's
 * selectors about the same endpoint's labels in turn, so one remembered
 * array saves parsing them per rule (and costs one comparison elsewhere). Label arrays are never changed once built.
 */
let lastLabels: readonly string[] | null = null;
let lastParsed: ReturnType<typeof parseLabel>[] = [];

function parsedLabels(labels: readonly string[]): ReturnType<typeof parseLabel>[] {
  if (labels !== lastLabels) {
    lastParsed = labels.map(parseLabel);
    lastLabels = labels;
  }
  return lastParsed;
}

function selectorOf(reqs: Requirement[]): LabelSelector {
  return (labels) => {
    const parsed = parsedLabels(labels);
    return reqs.every((r) => {
      const found = parsed.filter((l) => (r.source === null || l.source === r.source) && (l.key === r.key || (r.source === 'cidr' && cidrContains(r.key, l.key))));
      switch (r.op) {
        case 'exists':
          return found.length > 0;
        case 'notexists':
          return found.length === 0;
        case 'in':
          return found.some((l) => r.values.includes(l.value));
        case 'notin':
          return !found.some((l) => r.values.includes(l.value));
        case 'gt':
        case 'lt':
          // Kubernetes: the label must exist and its value parse as an integer beyond the bound.
          return found.some((l) => /^-?[0-9]+$/.test(l.value) && (r.op === 'gt' ? Number(l.value) > r.bound : Number(l.value) < r.bound));
      }
    });
  };
}
