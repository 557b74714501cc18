import { FlowkeeperError } from '../errors.js';
import type { JsonObject } from '../flows/jsonpb.js';
import type { FlowRecord } from '../flows/record.js';
import { DictKind, L4, L4_NAMES, TCP_FLAG_NAMES } from '../flows/row.js';
import { compileUserRegex } from './patterns.js';
import { idsIn, obj } from './model.js';
import type { Dimension, SqlFragment } from './model.js';

const L4_PROTOCOLS: Record<string, number[]> = {
  tcp: [L4.TCP], udp: [L4.UDP], sctp: [L4.SCTP], icmp: [L4.ICMPv4, L4.ICMPv6], icmpv4: [L4.ICMPv4], icmpv6: [L4.ICMPv6],
  vrrp: [L4.VRRP], igmp: [L4.IGMP],
};
const L7_PROTOCOLS = ['dns', 'http', 'kafka'];

export function l4Of(flow: FlowRecord): { code: number; body: JsonObject } | null {
  const l4 = obj(flow.l4);
  if (!l4) return null;
  for (const [code, key] of Object.entries(L4_NAMES)) {
    const body = obj(l4[key]);
    if (body) return { code: Number(code), body };
  }
  return null;
}

function l7Record(flow: FlowRecord, kind: 'dns' | 'http' | 'kafka'): JsonObject | undefined {
  return obj(obj(flow.l7)?.[kind]);
}

export function protocolDimension(values: string[]): Dimension {
  const l4codes: number[] = [];
  const l7: string[] = [];
  for (const v of values) {
    const p = v.toLowerCase();
    if (L4_PROTOCOLS[p]) l4codes.push(...L4_PROTOCOLS[p]);
    else if (L7_PROTOCOLS.includes(p)) l7.push(p);
    else throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `protocol: unknown protocol "${v}" (tcp, udp, sctp, icmp, icmpv4, icmpv6, vrrp, igmp, dns, http, kafka)`, 'protocol');
  }
  return {
    name: 'protocol',
    match: (flow) => {
      const l4 = l4Of(flow);
      if (l4 && l4codes.includes(l4.code)) return true;
      return l7.some((p) => l7Record(flow, p as 'dns' | 'http' | 'kafka') !== undefined);
    },
    sql: (index) => {
      const parts: SqlFragment[] = [];
      if (l4codes.length) parts.push({ sql: `l4 IN (${l4codes.map(() => '?').join(', ')})`, params: l4codes });
      if (l7.length) parts.push(idsIn('l7_record', index.valueIds(DictKind.L7Record, (v) => typeof v === 'object' && l7.some((p) => v[p] !== undefined))));
      return { sql: `(${parts.map((p) => p.sql).join(' OR ')})`, params: parts.flatMap((p) => p.params) };
    },
  };
}

function parsePorts(values: string[], parameter: string): number[] {
  return values.map((v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > 65535) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: "${v}" is not a port number`, parameter);
    return n;
  });
}

export function portDimension(side: 'source' | 'destination', values: string[]): Dimension {
  const name = `${side}_port`;
  const ports = parsePorts(values, name);
  const key = side === 'source' ? 'source_port' : 'destination_port';
  return {
    name,
    match: (flow) => {
      const l4 = l4Of(flow);
      if (!l4 || ![L4.TCP, L4.UDP, L4.SCTP].includes(l4.code as 1 | 2 | 5)) return false;
      return ports.includes(typeof l4.body[key] === 'number' ? (l4.body[key] as number) : 0);
    },
    sql: () => ({ sql: `(l4 IN (1, 2, 5) AND ${side === 'source' ? 'src_port' : 'dst_port'} IN (${ports.map(() => '?').join(', ')}))`, params: ports }),
  };
}


/** A flow matches a TCPFlags entry when it carries every flag set in it. */
export function tcpFlagsDimension(entries: Record<string, boolean>[]): Dimension {
  const masks = entries.map((e) => TCP_FLAG_NAMES.reduce((m, f, i) => (e[f] ? m | (1 << i) : m), 0));
  return {
    name: 'tcp_flags',
    match: (flow) => {
      // Hubble: a TCP flow that carries no flags matches no tcp_flags filter.
      const l4 = l4Of(flow);
      const flags = l4 && l4.code === L4.TCP ? obj(l4.body.flags) : undefined;
      if (!flags) return false;
      const have = TCP_FLAG_NAMES.reduce((m, f, i) => (flags[f] === true ? m | (1 << i) : m), 0);
      return masks.some((mask) => (have & mask) === mask);
    },
    sql: () => ({ sql: `(l4 = ${L4.TCP} AND tcp_flags IS NOT NULL AND (${masks.map(() => '(tcp_flags & ?) = ?').join(' OR ')}))`, params: masks.flatMap((m) => [m, m]) }),
  };
}

/**
 * Hubble's status filter: "404" (`^[1-5][0-9]{2}$`) exact, "4+" / "40+"
 * (`^[1-5][0-9]?\+$`) a prefix of the code zero-padded to three digits; only
 * HTTP flows with a non-zero code match.
 */
export function httpStatusDimension(values: string[]): Dimension {
  const full: string[] = [];
  const prefixes: string[] = [];
  for (const v of values) {
    if (/^[1-5][0-9]{2}$/.test(v)) full.push(v);
    else if (/^[1-5][0-9]?\+$/.test(v)) prefixes.push(v.slice(0, -1));
    else throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `http_status_code: "${v}" is not a status code (100-599) or prefix (4+, 40+)`, 'http_status_code');
  }
  const padded = (code: number): string => String(code).padStart(3, '0');
  const test = (code: number): boolean => code !== 0 && (full.includes(padded(code)) || prefixes.some((p) => padded(code).startsWith(p)));
  const sqlCode = "printf('%03d', http_code)";
  return {
    name: 'http_status_code',
    match: (flow) => {
      const code = l7Record(flow, 'http')?.code;
      return typeof code === 'number' && test(code);
    },
    sql: () => ({
      sql: `(coalesce(http_code, 0) != 0 AND (${[
        ...full.map(() => `${sqlCode} = ?`),
        ...prefixes.map((p) => `substr(${sqlCode}, 1, ${p.length}) = ?`),
      ].join(' OR ')}))`,
      params: [...full, ...prefixes],
    }),
  };
}

function httpRecordDimension(name: string, test: (http: JsonObject) => boolean): Dimension {
  return {
    name,
    match: (flow) => {
      const http = l7Record(flow, 'http');
      return http !== undefined && test(http);
    },
    sql: (index) => idsIn('l7_record', index.valueIds(DictKind.L7Record, (v) => typeof v === 'object' && obj(v.http) !== undefined && test(obj(v.http)!))),
  };
}

export function httpMethodDimension(values: string[]): Dimension {
  const wanted = values.map((v) => v.toLowerCase());
  return httpRecordDimension('http_method', (h) => typeof h.method === 'string' && h.method !== '' && wanted.includes(h.method.toLowerCase()));
}

/** Percent-decoding as Go's url.PathUnescape does it; null on a malformed escape. */
function unescapePath(text: string): string | null {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      if (!/^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) return null;
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The path Go's url.ParseRequestURI finds in an HTTP flow's URL (what
 * Hubble's http_path filter matches), or null when Go refuses the URL.
 */
export function requestUriPath(url: string): string | null {
  // eslint-disable-next-line no-control-regex
  if (url === '' || /[\x00-\x1f\x7f]/.test(url)) return null;
  if (url === '*') return '*';
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url);
  if (url.startsWith(':')) return null;
  let rest = scheme ? url.slice(scheme[0].length) : url;
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith('/')) return scheme ? '' : null; // rootless: opaque, no path
  if (scheme && rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    rest = slash < 0 ? '' : rest.slice(slash);
  }
  return unescapePath(rest);
}

export function httpPathDimension(patterns: string[]): Dimension {
  const res = patterns.map((p) => compileUserRegex(p, 'http_path'));
  return httpRecordDimension('http_path', (h) => {
    const path = typeof h.url === 'string' ? requestUriPath(h.url) : null;
    return path !== null && res.some((r) => r.test(path));
  });
}

export function httpUrlDimension(patterns: string[]): Dimension {
  const res = patterns.map((p) => compileUserRegex(p, 'http_url'));
  return httpRecordDimension('http_url', (h) => typeof h.url === 'string' && h.url !== '' && res.some((r) => r.test(h.url as string)));
}

export function httpHeaderDimension(headers: { key: string; value: string }[]): Dimension {
  return {
    name: 'http_header',
    match: (flow) => {
      const have = l7Record(flow, 'http')?.headers;
      return Array.isArray(have) && have.some((h) => headers.some((w) => obj(h)?.key === w.key && obj(h)?.value === w.value));
    },
    sql: () => null,
  };
}

export function dnsQueryDimension(patterns: string[]): Dimension {
  const res = patterns.map((p) => compileUserRegex(p, 'dns_query'));
  const test = (dns: JsonObject | undefined): boolean => typeof dns?.query === 'string' && res.some((r) => r.test(dns.query as string));
  return {
    name: 'dns_query',
    match: (flow) => test(l7Record(flow, 'dns')),
    sql: (index) => idsIn('l7_record', index.valueIds(DictKind.L7Record, (v) => typeof v === 'object' && test(obj(v.dns)))),
  };
}
