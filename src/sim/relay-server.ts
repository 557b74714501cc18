import * as grpc from '@grpc/grpc-js';
import { GetFlowsResponseType } from '../flows/schema.js';
import { ObserverService } from '../relay/observer-service.js';
import { NODES } from './topology.js';
import { TrafficGenerator } from './traffic.js';
import { FilterSet } from '../query/filter.js';
import { decodeFlowRecord } from '../flows/normalize.js';

export interface SimMessage {
  seconds: number;
  nanos: number;
  bytes: Buffer;
}

interface FlowsRequest {
  number: string;
  first: boolean;
  follow: boolean;
  since: { seconds: string; nanos: number } | null;
  until: { seconds: string; nanos: number } | null;
  whitelist: unknown[];
  blacklist: unknown[];
}

type FlowsCall = grpc.ServerWritableStream<FlowsRequest, Buffer>;

/** Hubble's per-node ring buffer default (hubble-event-buffer-capacity) times the simulated nodes. */
export const SIM_RING_CAPACITY = 4095 * NODES.length;
const TICK_MS = 10;
/** Messages a follower may have waiting before the simulator drops (and reports) flows for it, as a relay's buffer would. */
const MAX_FOLLOWER_BACKLOG = 8192;
/** Share of each tick the generator may use: the simulator shares the demo's process with flowkeeper. */
const GENERATE_MS_PER_TICK = 5;

/**
 * Paces generation by elapsed time, not by timer ticks: timers fire late, so
 * counting ticks fell short of the rate (2,000/s gave ~1,800/s).
 */
export class Pacer {
  sent = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly startMs: number,
  ) {}

  /** Flows owed at `nowMs` (may be ≤ 0 when a generator step sent a few ahead). */
  due(nowMs: number): number {
    return Math.floor((this.ratePerSecond * (nowMs - this.startMs)) / 1000) - this.sent;
  }
}

function before(m: { seconds: number; nanos: number }, t: { seconds: string; nanos: number }): boolean {
  const s = Number(t.seconds);
  return m.seconds < s || (m.seconds === s && m.nanos < t.nanos);
}

/**
 * A stand-in for hubble-relay serving observer.Observer over real gRPC: a ring
 * buffer of encoded GetFlowsResponse messages, GetFlows with since/number/follow,
 * ServerStatus and GetNodes. Used by `flowkeeper demo`, the tests and the bench.
 */
export class SimRelay {
  readonly requests: FlowsRequest[] = [];
  private readonly ring: SimMessage[] = [];
  /** Following streams and their server-side filter. */
  private readonly followers = new Map<FlowsCall, (m: SimMessage) => boolean>();
  /** Flows each follower missed while it was not reading (reported as a LostEvent when it reads again). */
  private readonly lostFor = new Map<FlowsCall, number>();
  private server: grpc.Server | null = null;
  private timer: NodeJS.Timeout | null = null;
  private seen = 0;
  /** Flows seen per node name (GetNodes seen_flows, as a relay reports its nodes'). */
  private readonly seenPerNode = new Map<string, number>();
  private readonly started = Date.now();

  constructor(
    private readonly capacity = SIM_RING_CAPACITY,
    /** Messages a follower may have waiting before flows are dropped for it (tests that push bursts raise it). */
    private readonly maxFollowerBacklog = MAX_FOLLOWER_BACKLOG,
  ) {}

  /** Adds an encoded message to the ring and sends it to every following stream. */
  push(message: SimMessage): void {
    this.seen++;
    this.ring.push(message);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    for (const [call, wanted] of this.followers) if (wanted(message)) this.send(call, message);
  }

  /**
   * Writes to a follower, as a relay does: a follower that does not read (its
   * consumer paused the stream) does not make the relay buffer without bound;
   * what it misses is dropped and reported as a LostEvent once it reads again.
   */
  private send(call: FlowsCall, message: SimMessage): void {
    // grpc-js streams are object-mode: writableLength counts messages not yet handed to HTTP/2.
    if (call.writableLength >= this.maxFollowerBacklog) {
      this.lostFor.set(call, (this.lostFor.get(call) ?? 0) + 1);
      return;
    }
    const lost = this.lostFor.get(call);
    if (lost) {
      this.lostFor.delete(call);
      call.write(Buffer.from(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({
        lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: lost }, time: { seconds: message.seconds, nanos: message.nanos },
      })).finish()));
    }
    call.write(message.bytes);
  }

  /** Encodes a protobufjs plain GetFlowsResponse and pushes it. */
  pushResponse(response: Record<string, unknown>, seconds: number, nanos: number): void {
    const bytes = Buffer.from(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject(response)).finish());
    if (response.flow && typeof response.node_name === 'string') this.seenPerNode.set(response.node_name, (this.seenPerNode.get(response.node_name) ?? 0) + 1);
    this.push({ seconds, nanos, bytes });
  }

  pushFlow(flow: Record<string, unknown>, seconds: number, nanos: number): void {
    this.pushResponse({ flow, node_name: flow.node_name, time: { seconds, nanos } }, seconds, nanos);
  }

  /** Generates `ratePerSecond` flows per second of simulated traffic until stopped. */
  startTraffic(ratePerSecond: number, generator = new TrafficGenerator()): void {
    const pacer = new Pacer(ratePerSecond, performance.now());
    this.timer = setInterval(() => {
      // After a stall, at most a second of traffic is made up, not a burst of everything missed.
      const tickStart = performance.now();
      let due = pacer.due(tickStart);
      if (due > ratePerSecond) {
        pacer.sent += due - ratePerSecond;
        due = ratePerSecond;
      }
      // Beyond what the machine can generate, the rate falls short rather than the process stalling.
      while (due > 0 && performance.now() - tickStart < GENERATE_MS_PER_TICK) {
        for (const f of generator.next(Date.now())) {
          this.pushFlow(f.flow, f.seconds, f.nanos);
          due--;
          pacer.sent++;
        }
      }
    }, TICK_MS);
  }

  /** Ends every open GetFlows stream with UNAVAILABLE, as a relay restart would. */
  breakStreams(): void {
    for (const call of this.followers.keys()) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'simulated relay restart' });
    this.followers.clear();
  }

  get followerCount(): number {
    return this.followers.size;
  }

  /** Starts serving; plaintext unless `credentials` are given (TLS/mTLS tests). */
  async listen(address: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const server = new grpc.Server();
    server.addService(ObserverService, {
      GetFlows: (call: FlowsCall) => this.getFlows(call),
      ServerStatus: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, this.serverStatus()),
      GetNodes: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { nodes: this.nodes() }),
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const call of this.followers.keys()) call.end();
    this.followers.clear();
    const server = this.server;
    this.server = null;
    if (server) server.forceShutdown();
  }

  private getFlows(call: FlowsCall): void {
    const req = call.request;
    this.requests.push(req);
    let filters: FilterSet;
    try {
      // Server-side filtering with Hubble's semantics, like a real relay.
      filters = FilterSet.parse({ whitelist: req.whitelist, blacklist: req.blacklist });
    } catch (err) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
      return;
    }
    const wanted = (m: SimMessage): boolean => {
      if (filters.empty) return true;
      const flow = decodeFlowRecord(m.bytes);
      return flow === null || filters.match(flow);
    };
    let history = this.ring.filter(wanted);
    if (req.since) history = history.filter((m) => !before(m, req.since!));
    else if (Number(req.number) > 0) history = history.slice(-Math.min(Number(req.number), history.length));
    else if (req.follow) history = [];
    if (req.until) history = history.filter((m) => before(m, { seconds: req.until!.seconds, nanos: req.until!.nanos + 1 }));
    for (const m of history) call.write(m.bytes);
    if (!req.follow) {
      call.end();
      return;
    }
    this.followers.set(call, wanted);
    const drop = (): void => {
      this.followers.delete(call);
      this.lostFor.delete(call);
    };
    call.on('cancelled', drop);
    call.on('close', drop);
    call.on('error', drop);
  }

  private serverStatus(): Record<string, unknown> {
    return {
      num_flows: this.ring.length,
      max_flows: this.capacity,
      seen_flows: this.seen,
      uptime_ns: String((Date.now() - this.started) * 1e6),
      num_connected_nodes: { value: NODES.length },
      num_unavailable_nodes: { value: 0 },
      version: 'flowkeeper-sim',
      flows_rate: 0,
    };
  }

  private nodes(): Record<string, unknown>[] {
    return NODES.map((name) => ({
      name, version: 'v1.19.4', address: name, state: 'NODE_CONNECTED', uptime_ns: String((Date.now() - this.started) * 1e6), seen_flows: String(this.seenPerNode.get(name) ?? 0),
    }));
  }
}
