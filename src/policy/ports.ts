import type { Connection, HttpRule, L7Rules, PortRule, Tri } from './model.js';
import { isIcmp } from './model.js';

/**
 * toPorts / ports of a rule against one connection: protocol and port (or
 * ICMP type), then the L7 rules an allowed port carries.
 */

/** Whether one toPorts entry covers the connection's protocol and port. */
export function portRuleMatches(rule: PortRule, c: Connection): Tri {
  if (c.protocol === '') return rule.ports.length === 0 && rule.icmps.length === 0 ? 'yes' : 'unknown';
  if (isIcmp(c.protocol)) {
    if (rule.icmps.length === 0) return rule.ports.length === 0 ? 'yes' : 'no';
    const family = c.protocol === 'ICMPv4' ? 'IPv4' : 'IPv6';
    return rule.icmps.some((i) => i.family === family && i.type === c.icmpType) ? 'yes' : 'no';
  }
  if (rule.ports.length === 0) return rule.icmps.length === 0 ? 'yes' : 'no';
  let answer: Tri = 'no';
  for (const p of rule.ports) {
    // Only TCP, UDP and SCTP are left here, which ANY covers.
    if (p.protocol !== 'ANY' && p.protocol !== c.protocol) continue;
    if (typeof p.port === 'string') {
      // A named port is the pod's containerPort name, which flows do not carry.
      answer = 'unknown';
      continue;
    }
    if (p.port === 0 || (c.port >= p.port && c.port <= Math.max(p.port, p.endPort))) return 'yes';
  }
  return answer;
}

/**
 * What a port's L7 rules make of the connection: its recorded HTTP request or
 * DNS query is allowed (yes) or refused by the proxy (no); an L3/L4 flow without
 * a request is 'proxied' (allowed to the proxy; its requests were not recorded).
 */
export function l7Verdict(l7: L7Rules, c: Connection): Tri | 'proxied' {
  if (!c.http && !c.dns) return 'proxied';
  if (l7.unsupported) return 'unknown';
  if (c.http) return l7.http ? (l7.http.some((r) => httpRuleMatches(r, c.http!)) ? 'yes' : 'no') : 'no';
  return l7.dns ? (l7.dns.some((p) => p.test(c.dns!.query)) ? 'yes' : 'no') : 'no';
}

function httpRuleMatches(rule: HttpRule, req: NonNullable<Connection['http']>): boolean {
  if (rule.method && !rule.method.test(req.method)) return false;
  if (rule.path && !rule.path.test(req.path)) return false;
  if (rule.host && !rule.host.test(req.host)) return false;
  return rule.headers.every((h) => req.headers.some((x) => x.key.toLowerCase() === h.name && (h.value === null || x.value === h.value)));
}
