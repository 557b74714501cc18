import { FlowkeeperError } from '../errors.js';

/** IP addresses and prefixes as Go's net/netip reads them (Hubble's IP filters and CIDR labels). */

/** An address as Go's netip.ParseAddr reads it: 4 or 16 bytes (IPv4-mapped IPv6 stays IPv6), or null. */
export function parseAddr(text: string): { bytes: number[]; zone: string } | null {
  if (text.includes('.') && !text.includes(':')) {
    const parts = text.split('.');
    if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255)) return null;
    return { bytes: parts.map(Number), zone: '' };
  }
  const percent = text.indexOf('%');
  const zone = percent < 0 ? '' : text.slice(percent + 1);
  const body = percent < 0 ? text : text.slice(0, percent);
  if (percent >= 0 && zone === '') return null;
  if (!/^[0-9a-fA-F:.]+$/.test(body)) return null;
  let hex = body;
  const lastColon = body.lastIndexOf(':');
  if (lastColon < 0) return null;
  if (body.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 address stands for the last two groups.
    const v4 = parseAddr(body.slice(lastColon + 1));
    if (!v4) return null;
    const g = (i: number): string => ((v4.bytes[i] << 8) | v4.bytes[i + 1]).toString(16);
    hex = `${body.slice(0, lastColon + 1)}${g(0)}:${g(2)}`;
  }
  const halves = hex.split('::');
  if (halves.length > 2) return null;
  const read = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const group of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
      out.push(parseInt(group, 16));
    }
    return out;
  };
  const head = read(halves[0]);
  const rest = halves.length === 2 ? read(halves[1]) : [];
  if (!head || !rest) return null;
  const given = head.length + rest.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return null;
  const all = [...head, ...new Array(8 - given).fill(0), ...rest];
  return { bytes: all.flatMap((g) => [g >> 8, g & 0xff]), zone };
}

/**
 * One IP filter value as Hubble reads it: with "/" a prefix (netip.ParsePrefix;
 * it contains addresses of its own family only), otherwise an exact address,
 * compared as the flow's address string.
 */
export function ipMatcher(spec: string, parameter: string): (ip: string) => boolean {
  const slash = spec.indexOf('/');
  if (slash < 0) {
    if (!parseAddr(spec)) invalidIp(spec, parameter);
    return (ip) => ip === spec;
  }
  const prefix = parsePrefix(spec) ?? invalidIp(spec, parameter);
  return (ip) => {
    const other = parseAddr(ip);
    return other !== null && other.zone === '' && prefixContains(prefix, other.bytes);
  };
}

function invalidIp(spec: string, parameter: string): never {
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: "${spec}" is not an IP address or CIDR prefix`, parameter);
}

export interface Prefix {
  bytes: number[];
  bits: number;
}

/** netip.ParsePrefix: an address without zone, "/", a length within its family (no leading zeros). */
export function parsePrefix(text: string): Prefix | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const addr = parseAddr(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!addr || addr.zone !== '' || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > addr.bytes.length * 8) return null;
  return { bytes: addr.bytes, bits: Number(bitsText) };
}

/** A prefix, or a single address as its full-length prefix (a policy's `fromCIDR: [10.1.2.3]`). */
export function parseAddrOrPrefix(text: string): Prefix | null {
  if (text.includes('/')) return parsePrefix(text);
  const addr = parseAddr(text);
  return addr && addr.zone === '' ? { bytes: addr.bytes, bits: addr.bytes.length * 8 } : null;
}

/** Prefix.Contains: same family, and the first `bits` bits equal. */
export function prefixContains(prefix: Prefix, bytes: number[]): boolean {
  if (bytes.length !== prefix.bytes.length) return false;
  for (let i = 0; i < prefix.bits; i++) {
    const mask = 0x80 >> (i % 8);
    if ((bytes[i >> 3] & mask) !== (prefix.bytes[i >> 3] & mask)) return false;
  }
  return true;
}
