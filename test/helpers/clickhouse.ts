import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, killAndWait, tempDir } from './harness.js';

/**
 * Real ClickHouse servers for the tests, each in a temporary directory on
 * loopback ports. CI installs Debian's clickhouse-server (.ci/run) and the
 * tests then require it; on a machine without it they are skipped, saying so.
 */

/** How to start a server: Debian's clickhouse-server, or the single `clickhouse` binary of newer releases. */
function serverCommand(): string[] | null {
  for (const bin of ['clickhouse-server', '/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0 || existsSync(bin)) return [bin];
  }
  if (spawnSync('sh', ['-c', 'command -v clickhouse']).status === 0) return ['clickhouse', 'server'];
  return null;
}

const command = serverCommand();
const REQUIRED = Boolean(process.env.CI);
if (!command && REQUIRED) throw new Error('clickhouse-server is required in CI (.ci/run installs Debian package clickhouse-server)');

/** `skip` for node:test: false when a server can be started here, else why not. */
export const clickhouseSkip: string | false = command ? false : 'clickhouse-server not found: install Debian package "clickhouse-server" (apt-get install clickhouse-server) to run the ClickHouse tests';

export interface ClickHouseServer {
  url: string;
  /** Its HTTPS interface, when started with `tls` */
  httpsUrl?: string;
  /** Kills the server at once (SIGKILL), keeping its files: a crash. */
  kill: () => Promise<void>;
  /** Starts it again on the same files and port, and waits until it answers. */
  start: () => Promise<void>;
  /** Kills it and removes its files. */
  stop: () => Promise<void>;
  /** The server's process id while it runs */
  pid: () => number | undefined;
}

/** `flowkeeper serve` arguments that keep and answer for flows dated years back (the fixtures are months old; retention runs at start). */
export const KEEP_OLD_FLOWS = ['--query-max-range', '3650d', '--retention', '3650d', '--rollup-retention', '3650d'];

/** `flowkeeper serve` arguments storing flows in ClickHouse at `url`, database `database`. */
export function clickhouseArgs(url: string, database: string): string[] {
  return ['--store', 'clickhouse', '--clickhouse-url', url, '--clickhouse-database', database];
}

const START_TIMEOUT_MS = 30_000;

function config(dir: string, http: number, tcp: number, extra: string): string {
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/error.log</errorlog><console>0</console></logger>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <!-- ZSTD for every part, as the README tells 18.x-19.x users to set (newer servers take the schema's column codecs) -->
  <compression><case><method>zstd</method></case></compression>${extra}
</yandex>
`;
}

/** 64-bit integers unquoted in JSON, as ClickHouse 25.8+ defaults: flowkeeper must ask for what it reads (http.ts). */
const USERS = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage><output_format_json_quote_64bit_integers>0</output_format_json_quote_64bit_integers></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`;

interface ServerOptions {
  ports?: { http: number; tcp: number };
  /** <remote_servers> XML (clusters of shards) */
  remoteServers?: string;
  /** A replica of a replicated shard: the ZooKeeper it uses and its macros (replicas fetch parts from each other over an interserver port) */
  replica?: { zookeeperPort: number; shard: string; replica: string };
  /** Also serve HTTPS with this certificate and key (files) */
  tls?: { cert: string; key: string };
}

function httpsConfig(port: number, tls: { cert: string; key: string }): string {
  return `
  <https_port>${port}</https_port>
  <openSSL><server>
    <certificateFile>${tls.cert}</certificateFile><privateKeyFile>${tls.key}</privateKeyFile>
    <verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile><disableProtocols>sslv2,sslv3</disableProtocols>
  </server></openSSL>`;
}

async function replicaConfig(r: ServerOptions['replica']): Promise<string> {
  if (!r) return '';
  return `
  <interserver_http_port>${await freePort()}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <zookeeper><node><host>127.0.0.1</host><port>${r.zookeeperPort}</port></node></zookeeper>
  <macros><shard>${r.shard}</shard><replica>${r.replica}</replica></macros>`;
}

/** Starts a ClickHouse server and waits until it answers; `stop` kills it and removes its files, whatever happened. */
export async function startClickHouse(options: ServerOptions = {}): Promise<ClickHouseServer> {
  if (!command) throw new Error(clickhouseSkip as string);
  const bin = command;
  const { dir, cleanup } = tempDir('flowkeeper-ch-');
  let child: ChildProcess | null = null;
  const kill = (): Promise<void> => killAndWait(child);
  const stop = async (): Promise<void> => {
    await kill();
    cleanup();
  };
  try {
    mkdirSync(join(dir, 'data'));
    const { http, tcp } = options.ports ?? { http: await freePort(), tcp: await freePort() };
    const https = options.tls ? await freePort() : null;
    const tls = options.tls && https ? httpsConfig(https, options.tls) : '';
    writeFileSync(join(dir, 'config.xml'), config(dir, http, tcp, (options.remoteServers ?? '') + (await replicaConfig(options.replica)) + tls));
    writeFileSync(join(dir, 'users.xml'), USERS);
    const url = `http://127.0.0.1:${http}`;
    const start = async (): Promise<void> => {
      const proc = spawn(bin[0], [...bin.slice(1), `--config-file=${join(dir, 'config.xml')}`], { stdio: 'ignore', cwd: dir });
      child = proc;
      const deadline = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`clickhouse-server exited (${proc.exitCode}) at start: ${tail(join(dir, 'error.log'))}`);
        try {
          if ((await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) })).ok) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`clickhouse-server did not answer within ${START_TIMEOUT_MS} ms: ${tail(join(dir, 'error.log'))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await start();
    return { url, ...(https ? { httpsUrl: `https://127.0.0.1:${https}` } : {}), kill, start, stop, pid: () => child?.pid };
  } catch (err) {
    await stop();
    throw err;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-500);
  } catch {
    return '(no error log)';
  }
}

/**
 * `shards` servers that all know cluster `name`: one shard each, over loopback
 * TCP (what Distributed tables read through). With `replicas`, each shard has
 * that many replicas kept in step through the ZooKeeper at `zookeeperPort`
 * (macros shard 1, 2, … and replica r1, r2, …), listed shard by shard. Stops
 * those started when one fails.
 */
export async function startClickHouseCluster(name: string, shards: number, replicated?: { replicas: number; zookeeperPort: number }): Promise<ClickHouseServer[]> {
  const perShard = replicated?.replicas ?? 1;
  const layout: { shard: number; replica: number; ports: { http: number; tcp: number } }[] = [];
  for (let shard = 1; shard <= shards; shard++) {
    for (let replica = 1; replica <= perShard; replica++) layout.push({ shard, replica, ports: { http: await freePort(), tcp: await freePort() } });
  }
  const shardXml = (shard: number): string => `<shard>${replicated ? '<internal_replication>true</internal_replication>' : ''}${layout
    .filter((l) => l.shard === shard)
    .map((l) => `<replica><host>127.0.0.1</host><port>${l.ports.tcp}</port></replica>`)
    .join('')}</shard>`;
  const remoteServers = `
  <remote_servers><${name}>${Array.from({ length: shards }, (_, i) => shardXml(i + 1)).join('')}</${name}></remote_servers>`;
  const servers: ClickHouseServer[] = [];
  try {
    for (const l of layout) {
      const replica = replicated ? { zookeeperPort: replicated.zookeeperPort, shard: String(l.shard), replica: `r${l.replica}` } : undefined;
      servers.push(await startClickHouse({ ports: l.ports, remoteServers, replica }));
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  return servers;
}
