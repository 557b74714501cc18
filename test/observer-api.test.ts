import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { formatTimestamp, messageToJsonpb } from '../src/flows/jsonpb.js';
import type { JsonObject } from '../src/flows/jsonpb.js';
import { GetFlowsResponseType } from '../src/flows/schema.js';
import type { FlowRecord } from '../src/flows/record.js';
import { ObserverClient } from '../src/relay/observer-service.js';
import { HealthDefinition } from '../src/observer/definitions.js';
import { loadConfig } from '../src/config/load.js';
import { startApp } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { ALL_TIME, flowId, parseNdjson, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';
import { canonical, pushJsonLine, startSim, tempDir, waitFor, withSimAndApp } from './helpers/harness.js';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ROOT_DIR } from '../src/paths.js';

/**
 * The gRPC Observer face, spoken to by a real grpc-js client over loopback:
 * answers equal the REST API's on the same store, follow joins history and
 * live with no gap and no duplicate, and the unary calls, health, auth and
 * limits behave as hubble clients expect.
 */
let env: Populated;
before(async () => {
  env = await populatedApp(3000);
});
after(async () => {
  await env.stop();
});

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function client(address: string, metadata?: Record<string, string>): Client {
  const creds = grpc.credentials.createInsecure();
  const c = new ObserverClient(address, creds) as unknown as Client;
  if (!metadata) return c;
  // Wrap calls so every request carries the metadata.
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Proxy(c, {
    get(target, prop) {
      const fn = target[prop as string];
      if (typeof fn !== 'function') return fn;
      return (req: unknown, ...rest: unknown[]) => (fn as (...a: unknown[]) => unknown).call(target, req, md, ...rest);
    },
  });
}

interface Streamed {
  flows: FlowRecord[];
  responses: JsonObject[];
}

/** Runs GetFlows to its end (or until `stopWhen` says so) and decodes every response. */
function getFlows(c: Client, req: Record<string, unknown>, stopWhen?: (s: Streamed) => boolean): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const out: Streamed = { flows: [], responses: [] };
    const call = c.GetFlows(req) as grpc.ClientReadableStream<Buffer>;
    call.on('data', (b: Buffer) => {
      const json = messageToJsonpb(GetFlowsResponseType, GetFlowsResponseType.decode(b) as unknown as Record<string, unknown>);
      out.responses.push(json);
      if (json.flow) out.flows.push(json.flow as FlowRecord);
      if (stopWhen?.(out)) {
        call.cancel();
        resolve(out);
      }
    });
    call.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve(out) : reject(err)));
    call.on('end', () => resolve(out));
  });
}

function unary<T>(c: Client, method: string): Promise<T> {
  return new Promise((resolve, reject) => (c[method] as (r: object, cb: (e: Error | null, r: T) => void) => void)({}, (e, r) => (e ? reject(e) : resolve(r))));
}

async function rest(path: string): Promise<FlowRecord[]> {
  const res = await fetch(`${env.app.url}${path}`);
  assert.equal(res.status, 200, await res.clone().text());
  return parseNdjson(await res.text());
}

const ts = (iso: string): { seconds: string; nanos: number } => ({ seconds: String(Math.floor(Date.parse(iso) / 1000)), nanos: 0 });

test('GetFlows number=N (hubble observe --last N) is the newest N, oldest first, as the REST API finds them', async () => {
  const c = client(env.app.observerAddress!);
  try {
    const got = await getFlows(c, { number: 20 });
    const want = (await rest(`/api/v1/flows?limit=20&since=${ALL_TIME.since}`)).reverse();
    assert.equal(got.flows.length, 20);
    assert.deepEqual(got.flows.map(flowId), want.map(flowId));
    for (const r of got.responses) {
      assert.equal(r.time, (r.flow as FlowRecord).time, 'the response carries the flow\'s time');
      assert.equal(r.node_name, (r.flow as FlowRecord).node_name ?? undefined);
    }
  } finally {
    c.close();
  }
});

test('GetFlows with filters, since, first: the same flows as the REST API with the same filters', async () => {
  const c = client(env.app.observerAddress!);
  try {
    const cases: [Record<string, unknown>, string][] = [
      [{ since: ts(ALL_TIME.since), first: true, number: 7, whitelist: [{ verdict: ['DROPPED'] }] }, 'verdict=DROPPED&order=asc&limit=7'],
      [{ since: ts(ALL_TIME.since), whitelist: [{ source_pod: ['kube-system/'] }, { destination_pod: ['kube-system/'] }], blacklist: [{ protocol: ['udp'] }] }, 'namespace=kube-system&not_protocol=udp&order=asc&limit=10000'],
      [{ since: ts(ALL_TIME.since), whitelist: [{ event_type: [{ type: 129 }], http_status_code: ['2+'] }] }, 'type=l7&http_status=2%2B&order=asc&limit=10000'],
      // Everything: more than a page, so it is read as chunks of time by both query threads at once.
      [{ since: ts(ALL_TIME.since) }, 'order=asc&limit=10000'],
    ];
    for (const [req, query] of cases) {
      const got = await getFlows(c, req);
      const want = await rest(`/api/v1/flows?${query}&since=${ALL_TIME.since}`);
      assert.ok(want.length > 0, query);
      if (!('whitelist' in req)) assert.ok(want.length > 2 * 2000, `several pages (${want.length} flows)`);
      assert.deepEqual(got.flows.map(flowId), want.map(flowId), query);
    }
  } finally {
    c.close();
  }
});

test('GetFlows field_mask sends only the fields asked for; unknown paths (a newer client) are ignored; the old experimental.field_mask works', async () => {
  const c = client(env.app.observerAddress!);
  try {
    for (const req of [
      { number: 5, field_mask: { paths: ['verdict', 'source.namespace', 'some_future_field', 'l7.future.x'] } },
      { number: 5, experimental: { field_mask: { paths: ['verdict', 'source.namespace'] } } },
    ]) {
      const got = await getFlows(c, req);
      assert.equal(got.flows.length, 5);
      for (const f of got.flows) {
        assert.ok(Object.keys(f).every((k) => k === 'verdict' || k === 'source'), JSON.stringify(f));
        if (f.source) assert.deepEqual(Object.keys(f.source as object), ['namespace']);
      }
    }
  } finally {
    c.close();
  }
});

test('GetFlows refuses bad filters with INVALID_ARGUMENT naming the field; agent and debug events are empty streams', async () => {
  const c = client(env.app.observerAddress!);
  try {
    await assert.rejects(getFlows(c, { number: 5, whitelist: [{ source_ip: ['10.0.0.0/33'] }] }), (err: grpc.ServiceError) =>
      err.code === grpc.status.INVALID_ARGUMENT && /source_ip/.test(err.details));
    await assert.rejects(getFlows(c, { since: ts('2001-01-01T00:00:00Z'), until: ts('2000-01-01T00:00:00Z') }), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT);
    for (const method of ['GetAgentEvents', 'GetDebugEvents']) {
      const events = await new Promise<number>((resolve, reject) => {
        let n = 0;
        const call = c[method]({ number: 10 }) as grpc.ClientReadableStream<unknown>;
        call.on('data', () => n++).on('end', () => resolve(n)).on('error', reject);
      });
      assert.equal(events, 0, method);
    }
  } finally {
    c.close();
  }
});

test('ServerStatus, GetNodes, GetNamespaces and grpc.health.v1 answer from what flowkeeper stores', async () => {
  const c = client(env.app.observerAddress!);
  const Health = grpc.makeGenericClientConstructor(HealthDefinition, 'Health');
  const health = new Health(env.app.observerAddress!, grpc.credentials.createInsecure()) as unknown as Client;
  try {
    const status = await unary<{ num_flows: string; version: string; seen_flows: string }>(c, 'ServerStatus');
    assert.equal(Number(status.num_flows), env.records.length);
    assert.ok(Number(status.seen_flows) >= env.records.length);
    assert.match(status.version, /^flowkeeper /);
    const nodes = await unary<{ nodes: { name: string; num_flows: string }[] }>(c, 'GetNodes');
    const perNode = new Map<string, number>();
    for (const f of env.records) if (f.node_name) perNode.set(String(f.node_name), (perNode.get(String(f.node_name)) ?? 0) + 1);
    assert.deepEqual(new Set(nodes.nodes.map((n) => n.name)), new Set(perNode.keys()));
    assert.deepEqual(Object.fromEntries(nodes.nodes.map((n) => [n.name, Number(n.num_flows)])), Object.fromEntries(perNode), 'num_flows: the flows stored from each node');
    const namespaces = await unary<{ namespaces: { cluster: string; namespace: string }[] }>(c, 'GetNamespaces');
    const names = namespaces.namespaces.map((n) => `${n.cluster}/${n.namespace}`);
    assert.ok(names.includes('prod-eu1/payments'), `the simulator's recent namespaces: ${names.join(', ')}`);
    assert.deepEqual(names, [...names].sort(), 'sorted by cluster, then namespace');
    const checked = await new Promise<{ status: string }>((resolve, reject) =>
      (health.Check as (r: object, cb: (e: Error | null, r: { status: string }) => void) => void)({ service: '' }, (e, r) => (e ? reject(e) : resolve(r))));
    assert.equal(checked.status, 'SERVING');
  } finally {
    c.close();
    health.close();
  }
});

const followUuid = (i: number): string => `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`;
function followFlow(i: number, at: number, padding = 0): JsonObject {
  // Go's RFC 3339 form (no ".000" for whole seconds), so the flow compares equal to what comes back.
  const time = formatTimestamp(Math.floor(at / 1000), (at % 1000) * 1e6);
  const flow: JsonObject = { time, uuid: followUuid(i), verdict: 'FORWARDED', node_name: 'k8s1', IP: { source: '10.0.0.1', destination: '10.0.0.2' } };
  if (padding > 0) flow.source = { labels: [`k8s:padding=${'x'.repeat(padding)}`] };
  return { flow, node_name: 'k8s1', time };
}

// Unfiltered followers take the relay's own bytes; filtered ones take decoded flows: both must hand over exactly.
for (const [kind, whitelist] of [['unfiltered (relay bytes as they are)', []], ['filtered (decoded live flows)', [{ source_ip: ['10.0.0.1'] }]]] as const) {
  test(`follow, ${kind}: history then live flows, with no gap and no duplicate, each exactly as sent`, async () => {
    const start = Date.now() - 60_000;
    const sentFlows = new Map<string, JsonObject>();
    const push = (sim: Parameters<typeof pushJsonLine>[0], line: JsonObject): void => {
      sentFlows.set(String((line.flow as JsonObject).uuid), line.flow as JsonObject);
      pushJsonLine(sim, line);
    };
    await withSimAndApp(async ({ sim, app }) => {
      await waitFor('history stored', () => app.pipeline.stats.stored === 50);
      const c = client(app.observerAddress!);
      try {
        let pushed = 50;
        let feeding: NodeJS.Timeout | undefined;
        // Live flows start once the stream has begun: "the last 50" are those stored when the request arrived.
        const got = await getFlows(c, { number: 50, follow: true, whitelist }, (s) => {
          feeding ??= setInterval(() => {
            for (let k = 0; k < 10 && pushed < 150; k++, pushed++) push(sim, followFlow(pushed, Date.now()));
          }, 5);
          return s.flows.length >= 150 || s.flows.some((f) => f.uuid === followUuid(149));
        });
        clearInterval(feeding);
        const ids = got.flows.map((f) => String(f.uuid));
        assert.equal(new Set(ids).size, ids.length, 'no flow twice');
        assert.deepEqual(ids, Array.from({ length: 150 }, (_, i) => followUuid(i)), 'the 50 stored, then every live one, in order');
        for (const f of got.flows) assert.equal(canonical(f), canonical(sentFlows.get(String(f.uuid))));
      } finally {
        c.close();
      }
    }, { before: (sim) => { for (let i = 0; i < 50; i++) push(sim, followFlow(i, start + i)); } });
  });
}

test('a follower that stops reading gets lost_events for what it missed, never an unbounded buffer; delivered + lost = sent', async () => {
  const FLOOD = 40_000;
  await withSimAndApp(async ({ sim, app }) => {
    const c = client(app.observerAddress!);
    try {
      const received: JsonObject[] = [];
      let lost = 0;
      const call = c.GetFlows({ follow: true }) as grpc.ClientReadableStream<Buffer>;
      const ended = new Promise<void>((resolve, reject) => {
        call.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve() : reject(err)));
        call.on('end', () => resolve());
      });
      call.on('data', (b: Buffer) => {
        const json = messageToJsonpb(GetFlowsResponseType, GetFlowsResponseType.decode(b) as unknown as Record<string, unknown>);
        if (json.flow) received.push(json.flow as JsonObject);
        if (json.lost_events) lost += Number((json.lost_events as JsonObject).num_events_lost);
      });
      // Subscribed once the hub has it; then the client stops reading while ~20 MB of flows arrive.
      await waitFor('follower subscribed', () => app.hub.size === 1);
      call.pause();
      for (let i = 0; i < FLOOD; i++) pushJsonLine(sim, followFlow(i, Date.now(), 400));
      await waitFor('flood stored', () => app.pipeline.stats.stored === FLOOD, 60_000);
      call.resume();
      // A flow sent once it has caught up comes after the loss report: send one at a time until one arrives.
      let tails = 0;
      const arrived = (): boolean => received.some((f) => Number(String(f.uuid).slice(-12)) >= FLOOD);
      while (!arrived() && tails < 50) {
        pushJsonLine(sim, followFlow(FLOOD + tails++, Date.now()));
        for (let w = 0; w < 20 && !arrived(); w++) await new Promise((r) => setTimeout(r, 10));
      }
      call.cancel();
      await ended;
      assert.ok(lost > 0, 'a stalled follower is told what it lost');
      assert.ok(received.length < FLOOD, 'some flows were dropped rather than buffered without bound');
      const delivered = new Set(received.map((f) => String(f.uuid)));
      assert.equal(delivered.size, received.length, 'no flow twice');
      assert.ok(arrived(), 'the follower catches up');
      assert.equal(delivered.size + lost, FLOOD + tails, 'every flow sent is either delivered or counted lost');
    } finally {
      c.close();
    }
  });
});

test('the API token guards the Observer API (bearer metadata, or basic auth as the hubble CLI sends it); streams are limited', async () => {
  await withSimAndApp(async ({ app }) => {
    const anonymous = client(app.observerAddress!);
    const bearer = client(app.observerAddress!, { authorization: 'Bearer s3cret' });
    const basic = client(app.observerAddress!, { authorization: `Basic ${Buffer.from('hubble:s3cret').toString('base64')}` });
    const wrong = client(app.observerAddress!, { authorization: 'Bearer nope' });
    try {
      for (const c of [anonymous, wrong]) {
        await assert.rejects(getFlows(c, { number: 1 }), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
        await assert.rejects(unary(c, 'ServerStatus'), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
      }
      for (const c of [bearer, basic]) await unary(c, 'ServerStatus');
      // One follower holds the only stream slot: a second is refused.
      const first = bearer.GetFlows({ follow: true }) as grpc.ClientReadableStream<Buffer>;
      first.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 200));
      await assert.rejects(getFlows(basic, { number: 1 }), (err: grpc.ServiceError) => err.code === grpc.status.RESOURCE_EXHAUSTED);
      first.cancel();
    } finally {
      for (const c of [anonymous, bearer, basic, wrong]) c.close();
    }
  }, { args: ['--api-token', 's3cret', '--observer-max-streams', '1'] });
});

test('the Observer API listens on loopback by default, and beyond it only with a token or an explicit --allow-unauthenticated', async () => {
  assert.equal(loadConfig([], {}).observerListen, '127.0.0.1:4244');
  const { dir, cleanup } = tempDir();
  const { sim, port } = await startSim();
  try {
    const args = ['--relay', `127.0.0.1:${port}`, '--db', join(dir, 'fk.db'), '--log-level', 'silent', '--listen', '127.0.0.1:0', '--observer-listen', '0.0.0.0:0'];
    await assert.rejects(startApp(loadConfig(args, {}), createLogger('silent')), (err: Error & { parameter?: string }) => err.parameter === 'observer-listen');
    const off = await startApp(loadConfig([...args.slice(0, -2), '--observer-listen', ''], {}), createLogger('silent'));
    assert.equal(off.observerAddress, null, 'an empty --observer-listen turns it off');
    await off.stop();
  } finally {
    await sim.close();
    cleanup();
  }
});

test('TLS and mTLS on the Observer API: a client with the CA and its certificate gets in, others do not', async () => {
  const TLS = join(ROOT_DIR, 'test', 'fixtures', 'tls');
  const pem = (f: string): Buffer => readFileSync(join(TLS, f));
  // The test certificate names *.hubble-relay.cilium.io, as a relay's does.
  const options = { 'grpc.ssl_target_name_override': 'hubble.hubble-relay.cilium.io' };
  await withSimAndApp(async ({ app }) => {
    const address = app.observerAddress!;
    const mutual = new ObserverClient(address, grpc.credentials.createSsl(pem('ca.crt'), pem('client.key'), pem('client.crt')), options) as unknown as Client;
    const noCert = new ObserverClient(address, grpc.credentials.createSsl(pem('ca.crt')), options) as unknown as Client;
    const wrongCa = new ObserverClient(address, grpc.credentials.createSsl(pem('other-ca.crt'), pem('client.key'), pem('client.crt')), options) as unknown as Client;
    const plain = new ObserverClient(address, grpc.credentials.createInsecure()) as unknown as Client;
    try {
      const status = await unary<{ version: string }>(mutual, 'ServerStatus');
      assert.match(status.version, /^flowkeeper /);
      assert.ok((await getFlows(mutual, { number: 1 })).flows.length <= 1);
      for (const c of [noCert, wrongCa, plain]) await assert.rejects(unary(c, 'ServerStatus'), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    } finally {
      for (const c of [mutual, noCert, wrongCa, plain]) c.close();
    }
  }, { args: ['--observer-tls-cert', join(TLS, 'relay.crt'), '--observer-tls-key', join(TLS, 'relay.key'), '--observer-tls-client-ca', join(TLS, 'ca.crt')] });
  await assert.rejects(withSimAndApp(async () => undefined, { args: ['--observer-tls-cert', join(TLS, 'relay.crt')] }), /--observer-tls-cert and --observer-tls-key must be given together/);
});

test('a follower the live thread refuses gets INTERNAL with the reason, and never hangs', async () => {
  const hub = env.app.hub as unknown as { add(s: { filters: object }): void };
  const add = hub.add.bind(hub);
  // As if the live thread could not parse filters the Observer face accepted (a defect, were it to happen).
  hub.add = (s) => {
    const real = s.filters;
    Object.defineProperty(s, 'filters', { get: () => Object.assign(Object.create(real) as object, { source: () => ({ whitelist: 'not a list' }) }) });
    add(s);
  };
  const c = client(env.app.observerAddress!);
  try {
    // With history first (the refusal comes within milliseconds, usually before it), and following only (it comes while the stream waits on live flows).
    for (const req of [{ number: 5 }, {}]) {
      const call = c.GetFlows({ ...req, follow: true, whitelist: [{ verdict: ['FORWARDED'] }] }) as grpc.ClientReadableStream<Buffer>;
      call.on('data', () => {});
      const err = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
      assert.equal(err.code, grpc.status.INTERNAL, JSON.stringify(req));
      assert.match(err.details, /the live stream could not take this subscription: whitelist must be an array/);
    }
  } finally {
    hub.add = add;
    c.close();
  }
});
