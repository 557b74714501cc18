import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPTIONS } from '../src/config/options.js';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT_DIR } from '../src/paths.js';
import { GENERATED, renderManifests } from './tools/k8s-manifests.js';

const read = (...p: string[]): string => readFileSync(join(ROOT_DIR, ...p), 'utf8');

test('docker-compose.yml is valid and every file it mounts or builds from exists', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, { build?: string; volumes?: string[]; image?: string }> };
  for (const name of ['flowkeeper', 'relay', 'prometheus', 'alertmanager', 'grafana']) assert.ok(compose.services[name], `service ${name}`);
  for (const [name, svc] of Object.entries(compose.services)) {
    if (svc.build) assert.ok(existsSync(join(ROOT_DIR, svc.build, 'Dockerfile')), `${name}: Dockerfile in build context`);
    for (const v of svc.volumes ?? []) {
      const host = v.split(':')[0];
      if (!host.startsWith('.')) continue; // named volume
      assert.ok(existsSync(resolve(ROOT_DIR, host)), `${name}: ${host} exists`);
    }
  }
});

test('Prometheus, Alertmanager and Grafana provisioning files are valid and point at files that exist', () => {
  const prom = parse(read('dashboards', 'prometheus', 'prometheus.yml')) as { rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[] }[] };
  for (const f of prom.rule_files) {
    // Mounted at /etc/prometheus/alerts from ./dashboards/alerts.
    assert.ok(existsSync(join(ROOT_DIR, 'dashboards', 'alerts', f.replace('/etc/prometheus/alerts/', ''))), f);
  }
  assert.equal(prom.scrape_configs[0].static_configs[0].targets[0], 'flowkeeper:8080');
  assert.ok((parse(read('dashboards', 'alertmanager', 'alertmanager.yml')) as { route: unknown }).route);
  const ds = parse(read('dashboards', 'grafana', 'provisioning', 'datasources', 'flowkeeper.yaml')) as { datasources: { type: string; url: string }[] };
  assert.ok(ds.datasources.some((d) => d.type === 'prometheus' && d.url === 'http://prometheus:9090'));
  const providers = parse(read('dashboards', 'grafana', 'provisioning', 'dashboards', 'flowkeeper.yaml')) as { providers: { options: { path: string } }[] };
  assert.equal(providers.providers[0].options.path, '/var/lib/grafana/dashboards/flowkeeper');
  const jsons = readdirSync(join(ROOT_DIR, 'dashboards')).filter((f) => f.endsWith('.json'));
  assert.equal(jsons.length, 3);
  for (const f of jsons) JSON.parse(read('dashboards', f));
});

test('Kubernetes manifests parse, and the generated ones match dashboards/', () => {
  for (const f of readdirSync(join(ROOT_DIR, 'deploy', 'kubernetes'))) {
    const path = join(ROOT_DIR, 'deploy', 'kubernetes', f);
    if (statSync(path).isDirectory() || !f.endsWith('.yaml') || f === 'kustomization.yaml') continue;
    const docs = parseAllDocuments(readFileSync(path, 'utf8'));
    for (const d of docs) assert.equal(d.errors.length, 0, `${f}: ${d.errors.join(', ')}`);
    assert.ok(docs.some((d) => (d.toJS() as { kind: string }).kind === 'Deployment'));
  }
  const fresh = renderManifests();
  assert.equal(readFileSync(GENERATED.rule, 'utf8'), fresh.rule, 'run npm run k8s:generate');
  assert.equal(readFileSync(GENERATED.dashboards, 'utf8'), fresh.dashboards, 'run npm run k8s:generate');
  const maps = parseAllDocuments(fresh.dashboards).map((d) => d.toJS() as { metadata: { labels: Record<string, string> } });
  assert.ok(maps.every((m) => m.metadata.labels.grafana_dashboard === '1'));
});

test('the ClickHouse overlay parses, patches what the base has, and sets only options flowkeeper knows', () => {
  // Beside the base, not inside it: kustomize refuses an overlay within its base's directory (a cycle).
  const dir = join(ROOT_DIR, 'deploy', 'kubernetes-clickhouse');
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[]; patches: { path: string }[] };
  const base = parseAllDocuments(read('deploy', 'kubernetes', 'flowkeeper.yaml')).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
  for (const r of kustomization.resources) assert.ok(existsSync(join(dir, r)), r);
  const known = new Set(Object.values(OPTIONS).map((o) => `FLOWKEEPER_${o.flag.toUpperCase().replaceAll('-', '_')}`));
  for (const { path } of kustomization.patches) {
    const patch = parse(readFileSync(join(dir, path), 'utf8')) as { kind: string; metadata: { name: string }; spec: { template?: { spec: { containers: { env: { name: string }[] }[] } } } };
    assert.ok(base.some((d) => d.kind === patch.kind && d.metadata.name === patch.metadata.name), `${path} patches a ${patch.kind} of the base`);
    for (const e of patch.spec.template?.spec.containers[0].env ?? []) assert.ok(known.has(e.name), `${path}: ${e.name} is a flowkeeper option`);
  }
  const chi = parse(readFileSync(join(dir, 'clickhouse-installation.yaml'), 'utf8')) as { kind: string };
  assert.equal(chi.kind, 'ClickHouseInstallation');
});

test('safe defaults in the shipped deployments: loopback-only compose, token from a Secret, locked-down pod, NetworkPolicy', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, { ports?: string[]; environment?: Record<string, string> }> };
  for (const [name, svc] of Object.entries(compose.services)) {
    for (const p of svc.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p} on loopback only`);
  }
  const grafana = compose.services.grafana.environment ?? {};
  assert.notEqual(grafana.GF_AUTH_ANONYMOUS_ENABLED, 'true');
  assert.match(grafana.GF_SECURITY_ADMIN_PASSWORD ?? '', /GRAFANA_ADMIN_PASSWORD:\?/, 'the Grafana password must be set');

  const kustomization = parse(read('deploy', 'kubernetes', 'kustomization.yaml')) as { resources: string[] };
  for (const r of kustomization.resources) assert.ok(existsSync(join(ROOT_DIR, 'deploy', 'kubernetes', r)), r);
  assert.deepEqual([...kustomization.resources].sort(), ['flowkeeper.yaml', 'generated/dashboards.yaml', 'generated/prometheusrule.yaml']);

  type Container = { env: { name: string; valueFrom?: { secretKeyRef?: { name: string } } }[]; securityContext: Record<string, unknown>; livenessProbe: { timeoutSeconds?: number } };
  const docs = parseAllDocuments(read('deploy', 'kubernetes', 'flowkeeper.yaml')).map((d) => d.toJS() as { kind: string; spec: Record<string, unknown> });
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  const pod = (deployment.spec.template as { spec: { automountServiceAccountToken: boolean; securityContext: { seccompProfile?: { type: string } }; containers: Container[] } }).spec;
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault');
  const c = pod.containers[0];
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual((c.securityContext.capabilities as { drop: string[] }).drop, ['ALL']);
  assert.ok((c.livenessProbe.timeoutSeconds ?? 1) >= 5, 'liveness allows for one query budget');
  assert.ok(c.env.find((e) => e.name === 'FLOWKEEPER_API_TOKEN')?.valueFrom?.secretKeyRef, 'API token from a Secret');
  assert.ok(docs.some((d) => d.kind === 'NetworkPolicy'), 'a NetworkPolicy');

  const dockerfile = read('Dockerfile');
  assert.match(dockerfile, /^HEALTHCHECK /m);
  assert.match(dockerfile, /npm install -g npm@11/, 'npm 11 honours allowScripts');
});
