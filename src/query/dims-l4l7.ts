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

function l4Of(flow: FlowRecord): { code: number; body: JsonObject } | null {
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
      const l4 = l4Of(flow);
      if (!l4 || l4.code !== L4.TCP) return false;
      const flags = obj(l4.body.flags) ?? {};
      const have = TCP_FLAG_NAMES.reduce((m, f, i) => (flags[f] === true ? m | (1 << i) : m), 0);
      return masks.some((mask) => (have & mask) === mask);
    },
    sql: () => ({ sql: `(l4 = ${L4.TCP} AND (${masks.map(() => '(coalesce(tcp_flags, 0) & ?) = ?').join(' OR ')}))`, params: masks.flatMap((m) => [m, m]) }),
  };
}

/** "404" exact, "4+" / "40+" prefix; only HTTP flows with a non-zero code match. */
export function httpStatusDimension(values: string[]): Dimension {
  const tests = values.map((v) => {
    const m = /^(\d{1,3})(\+?)$/.exec(v);
    if (!m || (m[2] === '' && m[1].length !== 3)) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `http_status_code: "${v}" is not a status code (404) or prefix (4+, 40+)`, 'http_status_code');
    }
    return m[2] ? (code: number) => String(code).startsWith(m[1]) : (code: number) => code === Number(m[1]);
  });
  const test = (code: number): boolean => code !== 0 && tests.some((t) => t(code));
  const codes: number[] = [];
  for (let c = 100; c < 1000; c++) if (test(c)) codes.push(c);
  return {
    name: 'http_status_code',
    match: (flow) => {
      const code = l7Record(flow, 'http')?.code;
      return typeof code === 'number' && test(code);
    },
    sql: () => idsIn('http_code', codes),
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
  return httpRecordDimension('http_method', (h) => typeof h.method === 'string' && wanted.includes(h.method.toLowerCase()));
}

function urlPath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url.split('?')[0];
  }
}

export function httpPathDimension(patterns: string[]): Dimension {
  const res = patterns.map((p) => compileUserRegex(p, 'http_path'));
  return httpRecordDimension('http_path', (h) => typeof h.url === 'string' && res.some((r) => r.test(urlPath(h.url as string))));
}

export function httpUrlDimension(patterns: string[]): Dimension {
  const res = patterns.map((p) => compileUserRegex(p, 'http_url'));
  return httpRecordDimension('http_url', (h) => typeof h.url === 'string' && res.some((r) => r.test(h.url as string)));
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
