import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { FlowkeeperError } from '../errors.js';
import { compileFilter } from '../query/filter.js';
import type { Config } from '../config/options.js';
import { readChecked } from '../config/secrets.js';

export interface RelayTarget {
  /** Name used in status, metrics and the checkpoint table. */
  name: string;
  address: string;
}

export interface RelaySettings {
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
  whitelist: Record<string, unknown>[];
  blacklist: Record<string, unknown>[];
  tls: boolean;
}

/** Parses --relay entries: "host:port" or "name=host:port"; a "tls://" prefix turns TLS on like the hubble CLI. */
export function parseRelayTargets(entries: string[]): RelayTarget[] {
  if (entries.length === 0) throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', '--relay: at least one relay address is needed', 'relay');
  const targets = entries.map((entry) => {
    const eq = entry.indexOf('=');
    const address = (eq > 0 ? entry.slice(eq + 1) : entry).replace(/^tls:\/\//, '');
    const name = eq > 0 ? entry.slice(0, eq) : address;
    if (!/^[^\s:]+:\d{1,5}$/.test(address) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(address)) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--relay: "${entry}" is not host:port or name=host:port`, 'relay');
    }
    return { name, address };
  });
  const names = new Set(targets.map((t) => t.name));
  if (names.size !== targets.length) throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', '--relay: relay names must be unique', 'relay');
  return targets;
}

function parseFilters(text: string, option: string): Record<string, unknown>[] {
  if (!text) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--${option}: not JSON: ${(err as Error).message}`, option);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  try {
    // Compiled as flowkeeper would run them (same patterns module, same limits), so a filter the
    // relay would refuse is refused at start with a clear error instead of failing every reconnect.
    return list.map((f, i) => compileFilter(f, `${option}[${i}]`).fields);
  } catch (err) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--${option}: ${(err as Error).message}`, option);
  }
}

/** Channel credentials and options shared by every relay connection. */
export function relaySettings(config: Config): RelaySettings {
  const tls = config.relayTls || Boolean(config.relayTlsCa || config.relayTlsCert || config.relayTlsKey) || config.relay.some((r) => r.includes('tls://'));
  if (Boolean(config.relayTlsCert) !== Boolean(config.relayTlsKey)) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', '--relay-tls-cert and --relay-tls-key must be given together', 'relay-tls-cert');
  }
  const channelOptions: grpc.ChannelOptions = {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  };
  let credentials = grpc.credentials.createInsecure();
  if (tls) {
    const ca = config.relayTlsCa ? readChecked(config.relayTlsCa, 'relay-tls-ca', 'certificate') : null;
    const key = config.relayTlsKey ? readChecked(config.relayTlsKey, 'relay-tls-key', 'key') : null;
    const cert = config.relayTlsCert ? readChecked(config.relayTlsCert, 'relay-tls-cert', 'certificate') : null;
    if (key && cert && !new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', '--relay-tls-key does not belong to the certificate in --relay-tls-cert', 'relay-tls-key');
    }
    credentials = grpc.credentials.createSsl(ca, key, cert);
    // Relay certificates name *.hubble-relay.cilium.io, not the Service DNS name.
    if (config.relayTlsServerName) channelOptions['grpc.ssl_target_name_override'] = config.relayTlsServerName;
  }
  return {
    credentials,
    channelOptions,
    tls,
    whitelist: parseFilters(config.relayWhitelist, 'relay-whitelist'),
    blacklist: parseFilters(config.relayBlacklist, 'relay-blacklist'),
  };
}
