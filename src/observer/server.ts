import * as grpc from '@grpc/grpc-js';
import { readChecked, sameToken } from '../config/secrets.js';
import { FlowkeeperError } from '../errors.js';
import type { JsonObject } from '../flows/jsonpb.js';
import type { Logger } from '../log.js';
import { FlowStream, planGetFlows } from './get-flows.js';
import type { FlowSources } from './get-flows.js';
import { HealthDefinition, ObserverServerDefinition } from './definitions.js';

/** ServerStatus as flowkeeper answers it: counts of what it stores and its relays' nodes. */
export interface ObserverStatus {
  numFlows: number;
  seenFlows: number;
  uptimeNs: number;
  connectedNodes: number;
  unavailableNodes: string[];
  version: string;
  flowsRate: number;
}

/** What the Observer face reads besides flows. */
export interface ObserverSources extends FlowSources {
  serverStatus(): ObserverStatus;
  /** Nodes seen, with the state their relay last reported (relay.NodeState name). */
  /** Nodes, with the flows stored from each (num_flows; flowkeeper keeps what retention allows, so max_flows is the same). */
  nodes(): { name: string; state: string; version: string; address: string; uptimeNs: number; seenFlows: number; numFlows: number }[];
  /** (cluster, namespace) with flows in the last hour, sorted. */
  namespaces(): { cluster: string; namespace: string }[];
}

export interface ObserverOptions {
  listen: string;
  apiToken: string;
  maxStreams: number;
  tls: { cert: string; key: string; clientCa: string } | null;
}

function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

function statusOf(err: unknown): grpc.ServiceError {
  if (err instanceof FlowkeeperError) {
    if (err.code === 'FLOWKEEPER_ERR_BUSY') return grpcError(grpc.status.RESOURCE_EXHAUSTED, err.message);
    if (err.status === 400) return grpcError(grpc.status.INVALID_ARGUMENT, err.message);
  }
  return grpcError(grpc.status.INTERNAL, (err as Error).message);
}

function credentials(tls: ObserverOptions['tls']): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  if (!tls.cert || !tls.key) throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', '--observer-tls-cert and --observer-tls-key must be given together', 'observer-tls-cert');
  const ca = tls.clientCa ? readChecked(tls.clientCa, 'observer-tls-client-ca', 'certificate') : null;
  const certChain = readChecked(tls.cert, 'observer-tls-cert', 'certificate');
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: certChain, private_key: readChecked(tls.key, 'observer-tls-key', 'key') }], ca !== null);
}

/**
 * Hubble's observer.Observer on flowkeeper's history (and live stream), plus
 * grpc.health.v1: `hubble observe --server <this> --since 1h`. A thin
 * transport over the query engine and the live hub; the API token, when set,
 * is required as `authorization: Bearer <token>` metadata.
 */
export class ObserverServer {
  private readonly server = new grpc.Server();
  private streams = 0;

  constructor(
    private readonly sources: ObserverSources,
    private readonly options: ObserverOptions,
    private readonly log: Logger,
  ) {
    this.server.addService(ObserverServerDefinition, {
      GetFlows: (call: grpc.ServerWritableStream<JsonObject, Buffer>) => void this.getFlows(call),
      GetAgentEvents: (call: grpc.ServerWritableStream<unknown, unknown>) => this.emptyStream(call),
      GetDebugEvents: (call: grpc.ServerWritableStream<unknown, unknown>) => this.emptyStream(call),
      ServerStatus: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => this.unary(call, cb, () => this.serverStatus()),
      GetNodes: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => this.unary(call, cb, () => ({ nodes: this.sources.nodes().map((n) => ({ name: n.name, version: n.version, address: n.address, state: n.state, uptime_ns: String(n.uptimeNs), seen_flows: String(n.seenFlows), num_flows: String(n.numFlows), max_flows: String(n.numFlows) })) })),
      GetNamespaces: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => this.unary(call, cb, () => ({ namespaces: this.sources.namespaces() })),
    });
    this.server.addService(HealthDefinition, {
      Check: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: 'SERVING' }),
      Watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        call.write({ status: 'SERVING' });
      },
    });
  }

  /** Binds the port; returns the address it listens on. */
  async listen(): Promise<string> {
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.options.listen, credentials(this.options.tls), (err, p) => (err ? reject(err) : resolve(p)));
    });
    const host = this.options.listen.slice(0, this.options.listen.lastIndexOf(':'));
    return `${host}:${port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
  }

  /**
   * The API token as `authorization: Bearer <token>`, or as the password of
   * HTTP basic auth (what `hubble --basic-auth-username x --basic-auth-password <token>` sends; the user name is not checked).
   */
  private authorized(metadata: grpc.Metadata): boolean {
    const token = this.options.apiToken;
    if (!token) return true;
    const header = String(metadata.get('authorization')[0] ?? '');
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1];
    const basic = /^Basic\s+(.+)$/i.exec(header)?.[1];
    const given = bearer ?? (basic ? Buffer.from(basic, 'base64').toString('utf8').replace(/^[^:]*:/, '') : null);
    return given !== null && sameToken(given, token);
  }

  private refuse(metadata: grpc.Metadata): grpc.ServiceError | null {
    return this.authorized(metadata)
      ? null
      : grpcError(grpc.status.UNAUTHENTICATED, 'flowkeeper needs the API token: "authorization: Bearer <token>" metadata, or basic auth with the token as password (hubble --tls --basic-auth-username any --basic-auth-password <token>)');
  }

  private unary(call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>, answer: () => unknown): void {
    const refused = this.refuse(call.metadata);
    if (refused) return cb(refused);
    try {
      cb(null, answer());
    } catch (err) {
      cb(statusOf(err));
    }
  }

  private emptyStream(call: grpc.ServerWritableStream<unknown, unknown>): void {
    // flowkeeper keeps flows only: no agent or debug events to send.
    const refused = this.refuse(call.metadata);
    if (refused) call.emit('error', refused);
    else call.end();
  }

  private serverStatus(): Record<string, unknown> {
    const s = this.sources.serverStatus();
    return {
      num_flows: String(s.numFlows), max_flows: String(s.numFlows), seen_flows: String(s.seenFlows), uptime_ns: String(s.uptimeNs),
      num_connected_nodes: { value: s.connectedNodes }, num_unavailable_nodes: { value: s.unavailableNodes.length },
      unavailable_nodes: s.unavailableNodes, version: s.version, flows_rate: s.flowsRate,
    };
  }

  private async getFlows(call: grpc.ServerWritableStream<JsonObject, Buffer>): Promise<void> {
    const refused = this.refuse(call.metadata);
    if (refused) return void call.emit('error', refused);
    if (this.streams >= this.options.maxStreams) {
      return void call.emit('error', grpcError(grpc.status.RESOURCE_EXHAUSTED, `at most ${this.options.maxStreams} concurrent GetFlows streams (--observer-max-streams)`));
    }
    let plan;
    try {
      plan = planGetFlows(call.request, this.sources.maxRangeSeconds);
    } catch (err) {
      return void call.emit('error', statusOf(err));
    }
    this.streams++;
    try {
      await new FlowStream(call, plan, this.sources).run();
      if (!call.cancelled) call.end();
    } catch (err) {
      this.log.warn({ err }, 'Observer GetFlows failed');
      if (!call.cancelled) call.emit('error', statusOf(err));
    } finally {
      this.streams--;
    }
  }
}
