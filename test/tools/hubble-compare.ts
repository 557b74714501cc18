import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filtersFromParams } from '../../src/api/params.js';
import { parseTimestamp } from '../../src/flows/jsonpb.js';
import type { JsonObject } from '../../src/flows/jsonpb.js';
import { decodeFlowRecord } from '../../src/flows/normalize.js';
import { GetFlowsResponseType } from '../../src/flows/schema.js';
import { TrafficGenerator } from '../../src/sim/traffic.js';
import { SimRelay } from '../../src/sim/relay-server.js';
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { encodeResponse, fixtureLines } from '../helpers/fixtures.js';
import { pushJsonLine, waitFor } from '../helpers/harness.js';

/**
 * Compares flowkeeper's query-string filters with a real hubble CLI on the
 * same flows: `hubble observe --input-file F --all -o jsonpb FLAGS` against
 * flowkeeper's shorthands with the same flags. A local check (CI has no Go):
 *
 *   node dist/test/tools/hubble-compare.js /path/to/hubble            filters vs hubble observe --input-file
 *   node dist/test/tools/hubble-compare.js /path/to/hubble --server   hubble observe --server <flowkeeper's Observer API>
 *                                                                      vs --input-file, same flags, output compared line by line
 *
 * Each case lists CLI flags; `--not` applies to the next flag, boolean flags
 * have no value.
 */
const CASES: string[][] = [
  ['--verdict', 'DROPPED'],
  ['--namespace', 'kube-system'],
  ['--namespace', 'kube-system', '--pod', 'coredns'],
  ['--namespace', 'kube-system', '--namespace', 'default', '--service', 'kube-dns'],
  ['--from-namespace', 'kube-system', '--to-pod', 'default/'],
  ['--to-namespace', 'kube-system', '--port', '53'],
  ['--all-namespaces', '--pod', 'coredns'],
  ['--to-all-namespaces', '--to-service', 'kube-dns'],
  ['--pod', 'kube-system/'],
  ['--from-pod', '/hubble'],
  ['--fqdn', '*.com'],
  ['--to-fqdn', '*.svc.cluster.local'],
  ['--to-fqdn', '*.GOOGLEAPIS.com.'],
  ['--from-fqdn', '*'],
  ['--node-name', 'kind-*'],
  ['--node-name', '*/'],
  ['--node-name', 'default/kind-control-plane'],
  ['--node-name', 'k*/*'],
  ['--ip', '10.244.0.0/16'],
  ['--to-ip', '10.96.0.10'],
  ['--from-ip', 'fe80::/10'],
  ['--ip-version', 'v6'],
  ['--label', 'k8s:k8s-app=kube-dns'],
  ['--from-label', 'reserved:host'],
  ['--to-label', '!k8s:app'],
  ['--label', 'k8s-app in (kube-dns, hubble-relay)'],
  ['--to-label', 'reserved:world'],
  ['--identity', 'world'],
  ['--from-identity', '1'],
  ['--protocol', 'udp'],
  ['--protocol', 'ICMP'],
  ['--protocol', 'dns', '--protocol', 'http'],
  ['--port', '53'],
  ['--to-port', '443', '--protocol', 'tcp'],
  ['--type', 'l7'],
  ['--type', 'trace:to-endpoint'],
  ['--type', 'drop'],
  ['--type', 'policy-verdict'],
  ['--http-status', '2+'],
  ['--http-status', '200'],
  ['--http-method', 'get'],
  ['--http-path', '^/api'],
  ['--http-url', 'https?://'],
  ['--traffic-direction', 'ingress'],
  ['--traffic-direction', 'egress', '--verdict', 'FORWARDED'],
  ['--drop-reason-desc', 'POLICY_DENIED'],
  ['--tcp-flags', 'SYN'],
  ['--tcp-flags', 'SYN,ACK'],
  ['--workload', 'coredns'],
  ['--from-workload', 'Deployment/'],
  ['--cluster', 'default'],
  ['--interface', 'eth0'],
  ['--verdict', 'DROPPED', '--not', '--namespace', 'kube-system'],
  ['--not', '--protocol', 'tcp'],
  ['--not', '--verdict', 'FORWARDED', '--not', '--type', 'trace'],
  ['--uuid', '00000000-0000-4000-8000-000000000007'],
  // simulator traffic (cluster prod-eu1, nodes prod-eu1/node-a…c)
  ['--namespace', 'payments'],
  ['--namespace', 'payments', '--pod', 'payments-api'],
  ['--namespace', 'payments', '--namespace', 'checkout', '--pod', 'checkout'],
  ['--from-namespace', 'frontend', '--to-pod', 'catalog/catalog-api'],
  ['--from-namespace', 'frontend', '--pod', 'web'],
  ['--to-namespace', 'payments', '--verdict', 'DROPPED'],
  ['--all-namespaces', '--pod', 'web'],
  ['--pod', 'web'],
  ['--to-fqdn', '*.stripe.com'],
  ['--to-fqdn', '*.com'],
  ['--to-fqdn', 'API.STRIPE.COM.'],
  ['--fqdn', '*example*'],
  ['--node-name', 'prod-eu1/'],
  ['--node-name', 'node-*'],
  ['--node-name', 'prod-*/node-b'],
  ['--node-name', '/node-a'],
  ['--node-name', 'node-a'],
  ['--node-name', 'default/node-a'],
  ['--cluster', 'prod-eu1'],
  ['--from-cluster', 'prod-eu1', '--to-cluster', 'prod-eu1'],
  ['--label', 'app=web'],
  ['--to-label', 'k8s:app in (payments-api, catalog-api), !k8s:version'],
  ['--from-label', 'k8s:io.cilium.k8s.policy.serviceaccount=web'],
  ['--to-workload', 'Deployment/payments-api'],
  ['--workload', 'StatefulSet/'],
  ['--http-status', '4+'],
  ['--http-status', '40+', '--http-method', 'POST'],
  ['--http-path', '^/v1/(charges|refunds)$'],
  ['--http-url', '(?i)PAYMENTS'],
  ['--type', 'drop', '--not', '--drop-reason-desc', 'POLICY_DENIED'],
  ['--protocol', 'icmpv6'],
  ['--to-ip', '10.0.0.0/8', '--not', '--from-ip', '10.0.3.0/24'],
  ['--ip', '::ffff:10.0.0.0/104'],
  ['--identity', '10000'],
  ['--from-identity', 'host', '--to-identity', 'world'],
  ['--traffic-direction', 'egress', '--verdict', 'DROPPED', '--from-namespace', 'payments'],
  ['--cel-expression', '_flow.verdict == Verdict.DROPPED && _flow.source.namespace == "payments"'],
  ['--cel-expression', 'has(_flow.l4.TCP) && _flow.l4.TCP.destination_port == uint(443)'],
  ['--cel-expression', '_flow.destination.labels.exists(l, l.startsWith("k8s:app=payments"))', '--verdict', 'FORWARDED'],
  ['--cel-expression', 'has(_flow.l7.http) && _flow.l7.http.code >= uint(400)'],
  ['--cel-expression', '_flow.source_names.exists(n, n.endsWith(".com")) || _flow.destination_names.exists(n, n.endsWith(".com"))'],
];

/** CLI flags → REST query parameters (`--from-pod x` → from_pod=[x], `--not --pod x` → not_pod). */
export function flagsToParams(flags: string[]): Record<string, string[]> {
  const BOOLEAN = ['all-namespaces', 'from-all-namespaces', 'to-all-namespaces'];
  const params: Record<string, string[]> = {};
  let negate = false;
  for (let i = 0; i < flags.length; i++) {
    const name = flags[i].replace(/^--/, '');
    if (name === 'not') {
      negate = true;
      continue;
    }
    const value = BOOLEAN.includes(name) ? 'true' : flags[++i];
    const key = `${negate ? 'not_' : ''}${name === 'drop-reason-desc' ? 'drop_reason_desc' : name.replace(/-/g, '_')}`
      .replace(/^(not_)?http_status$/, '$1http_status');
    (params[key] ??= []).push(value);
    negate = false;
  }
  return params;
}

function inputFlows(): JsonObject[] {
  const lines: JsonObject[] = [...fixtureLines()];
  const gen = new TrafficGenerator(7);
  const start = Date.UTC(2026, 0, 1);
  while (lines.length < 6000) {
    for (const f of gen.next(start + lines.length)) {
      const record = decodeFlowRecord(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({ flow: f.flow, time: f.flow.time })).finish());
      if (record) lines.push({ flow: record, node_name: record.node_name ?? '', time: record.time });
    }
  }
  // In time order, as a relay streams them (the fixture files interleave in time).
  const at = (l: JsonObject): number => {
    const t = parseTimestamp(String((l.flow as JsonObject).time))!;
    return t.seconds * 1e9 + t.nanos;
  };
  lines.sort((a, b) => at(a) - at(b));
  // A uuid per flow identifies it in both answers.
  return lines.map((l, i) => ({ ...l, flow: { ...(l.flow as JsonObject), uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` } }));
}

/** Flag sets for the server comparison: the history selectors hubble observe has, with filters. */
const SERVER_CASES: string[][] = [
  ['--last', '20'],
  ['--last', '200', '--verdict', 'DROPPED'],
  ['--first', '15', '--namespace', 'kube-system'],
  ['--since', '2026-01-01T00:00:02Z', '--until', '2026-01-01T00:00:03Z'],
  ['--since', '2026-01-01T00:00:02Z', '--first', '30', '--to-fqdn', '*.stripe.com'],
  ['--since', '2021-01-01T00:00:00Z', '--until', '2022-01-01T00:00:00Z', '--label', 'k8s:k8s-app=kube-dns'],
  ['--all', '--type', 'policy-verdict', '--from-namespace', 'frontend'],
  ['--last', '50', '--http-status', '2+', '--not', '--http-method', 'GET'],
  ['--all', '--cel-expression', '_flow.verdict == Verdict.DROPPED && has(_flow.l4.TCP)'],
  // Every flow: several pages, read as chunks of time by both query threads at once.
  ['--all'],
  // (hubble's --input-file reader ignores field masks: this one differs by design, the server's lines being the masked ones)
  ['--last', '10', '--experimental-field-mask', 'time,verdict,source.namespace,destination.pod_name'],
];

/** hubble observe over flowkeeper's Observer API and over the same flows from a file: the same lines? */
async function compareServer(hubble: string, file: string, flows: JsonObject[]): Promise<number> {
  const sim = new SimRelay(flows.length + 10);
  const relayPort = await sim.listen('127.0.0.1:0');
  for (const f of flows) pushJsonLine(sim, f);
  const dir = mkdtempSync(join(tmpdir(), 'hubble-compare-db-'));
  const config = loadConfig(['--relay', `c=127.0.0.1:${relayPort}`, '--db', join(dir, 'fk.db'), '--listen', '127.0.0.1:0', '--observer-listen', '127.0.0.1:0', '--query-max-range', '3650d', '--log-level', 'warn'], {});
  const app = await startApp(config, createLogger('warn'));
  let differing = 0;
  try {
    await waitFor('flows stored', () => app.pipeline.stats.stored === flows.length, 60_000);
    for (const flags of SERVER_CASES) {
      // Asynchronously: the Observer API answering the CLI runs in this process.
      const run = async (source: string[]): Promise<string[]> => {
        try {
          const { stdout } = await promisify(execFile)(hubble, ['observe', ...source, '-o', 'jsonpb', ...flags], { encoding: 'utf8', maxBuffer: 1 << 28 });
          return stdout.split('\n').filter(Boolean);
        } catch (err) {
          return [`<error> ${String((err as { stderr?: string }).stderr ?? err).split('\n')[0]}`];
        }
      };
      const fromFile = await run(['--input-file', file]);
      const fromServer = await run(['--server', app.observerAddress!]);
      const same = fromFile.length === fromServer.length && fromFile.every((l, i) => l === fromServer[i]);
      if (!same) differing++;
      const firstDiff = fromFile.findIndex((l, i) => l !== fromServer[i]);
      if (!same && process.env.HUBBLE_COMPARE_SHOW) console.log(`  file:   ${fromFile[firstDiff]}\n  server: ${fromServer[firstDiff]}`);
      console.log(`${same ? 'same' : 'DIFF'}  ${String(fromFile.length).padStart(5)} lines  ${flags.join(' ')}${same ? '' : `  (file ${fromFile.length} lines, server ${fromServer.length}; first difference at line ${firstDiff}: ${fromFile[firstDiff]?.slice(0, 160)} | ${fromServer[firstDiff]?.slice(0, 160)})`}`);
    }
  } finally {
    await app.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return differing;
}

async function main(): Promise<void> {
  const hubble = process.argv[2];
  if (!hubble) {
    console.error('usage: node dist/test/tools/hubble-compare.js /path/to/hubble');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'hubble-compare-'));
  const file = join(dir, 'flows.jsonl');
  const flows = inputFlows();
  writeFileSync(file, flows.map((f) => JSON.stringify(f)).join('\n') + '\n');
  const records = flows.map((f) => ({ uuid: (f.flow as JsonObject).uuid as string, record: decodeFlowRecord(encodeResponse(f))! }));
  let differing = 0;
  if (process.argv[3] === '--server') {
    try {
      differing = await compareServer(hubble, file, flows);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`\n${SERVER_CASES.length - differing}/${SERVER_CASES.length} flag sets print the same lines from flowkeeper's Observer API as from the file (${flows.length} flows)`);
    process.exitCode = differing ? 1 : 0;
    return;
  }
  try {
    for (const flags of CASES) {
      let hubbleIds: Set<string>;
      try {
        const out = execFileSync(hubble, ['observe', '--input-file', file, '--all', '-o', 'jsonpb', ...flags], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] });
        hubbleIds = new Set(out.split('\n').filter(Boolean).map((l) => ((JSON.parse(l) as JsonObject).flow as JsonObject | undefined)?.uuid as string).filter(Boolean));
      } catch (err) {
        hubbleIds = new Set(['<error> ' + String((err as { stderr?: string }).stderr ?? err).split('\n')[0]]);
      }
      let ours: Set<string>;
      try {
        const set = filtersFromParams(flagsToParams(flags));
        ours = new Set(records.filter((r) => set.match(r.record)).map((r) => r.uuid));
      } catch (err) {
        ours = new Set(['<error> ' + (err as Error).message]);
      }
      const onlyHubble = [...hubbleIds].filter((id) => !ours.has(id));
      const onlyOurs = [...ours].filter((id) => !hubbleIds.has(id));
      const same = onlyHubble.length === 0 && onlyOurs.length === 0;
      if (!same) differing++;
      console.log(`${same ? 'same' : 'DIFF'}  ${String(hubbleIds.size).padStart(5)} flows  ${flags.join(' ')}${same ? '' : `  (hubble only: ${onlyHubble.slice(0, 3).join(', ')}; flowkeeper only: ${onlyOurs.slice(0, 3).join(', ')})`}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n${CASES.length - differing}/${CASES.length} flag sets select the same flows over ${flows.length} flows`);
  process.exitCode = differing ? 1 : 0;
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
