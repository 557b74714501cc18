import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority, nameThread } from '../thread-priority.js';
import { recordOf } from '../flows/normalize.js';
import type { DecodedFlow } from '../flows/normalize.js';
import { compileFieldMask } from '../flows/field-mask.js';
import { longToNumber } from '../flows/jsonpb.js';
import type { JsonObject } from '../flows/jsonpb.js';
import { flowTimeInRange } from '../flows/scan.js';
import { flowKey } from '../flows/record.js';
import type { FlowRecord } from '../flows/record.js';
import { recordResponse } from '../flows/responses.js';
import { FilterSet } from '../query/filter.js';
import { packFrames } from '../flows/message-batch.js';
import { decodeLiveFlow, wsFlowText } from './flow-text.js';
import { grpcFrame, wsTextFrame } from './frames.js';
import type { LiveForm, LiveOutput, LiveReply, LiveRequest, LiveThreadSettings } from './protocol.js';

/**
 * The live thread: decodes the relay's messages for live subscribers, filters
 * them, and encodes each subscriber's flows as the frames its face sends
 * (WebSocket text or gRPC), so the main thread only copies bytes to sockets.
 */
interface Subscription {
  id: number;
  filters: FilterSet;
  form: LiveForm;
  mask: ((flow: JsonObject) => JsonObject) | null;
  keys: boolean;
}

/** One subscriber's frames of the batch being encoded. */
class OutputBuilder {
  readonly frames: Buffer[] = [];
  readonly keys: string[] = [];
  lost = 0;

  constructor(readonly sub: Subscription) {}

  add(frame: Buffer, key: () => string): void {
    this.frames.push(frame);
    if (this.sub.keys) this.keys.push(key());
  }

  /** The frames in one buffer of their own (transferred to the main thread). */
  finish(): LiveOutput {
    return { id: this.sub.id, ...packFrames(this.frames), keys: this.sub.keys ? this.keys : null, lost: this.lost };
  }
}

const port = parentPort!;
nameThread('fk-live');
const subscriptions = new Map<number, Subscription>();
lowerThreadPriority((workerData as LiveThreadSettings).nice);

/** A flow's record and frames, each made at most once (per form, and per field mask) whatever the number of subscribers. */
class FlowFrames {
  private ws: Buffer | null = null;
  private grpc: Buffer | null = null;
  private key: string | null = null;
  private built: FlowRecord | null = null;

  constructor(
    private readonly flow: DecodedFlow,
    /** The relay's GetFlowsResponse, as it sent it. */
    private readonly message: Uint8Array,
  ) {}

  /** The flow's record, built when a filter, a field mask or a key needs it. */
  get record(): FlowRecord {
    return (this.built ??= recordOf(this.flow));
  }

  matches(sub: Subscription): boolean {
    // No filters: every flow matches, and its record need not be built.
    return sub.filters.empty || sub.filters.match(this.record);
  }

  for(sub: Subscription): Buffer {
    if (sub.form.kind === 'ws') return (this.ws ??= wsTextFrame(wsFlowText(this.flow)));
    if (sub.mask) return grpcFrame(recordResponse(this.record, sub.mask));
    // Unmasked followers get the relay's own response, as unfiltered ones do (no re-encoding).
    return (this.grpc ??= grpcFrame(this.message));
  }

  readonly flowKey = (): string => (this.key ??= flowKey(this.record));
}

type FramesReply = Extract<LiveReply, { type: 'frames' }>;

function hasStorableTime(flow: DecodedFlow): boolean {
  const time = flow.time as { seconds?: unknown; nanos?: unknown } | null | undefined;
  return time !== undefined && time !== null && flowTimeInRange(longToNumber(time.seconds ?? 0), longToNumber(time.nanos ?? 0));
}

function encodeBatch(req: Extract<LiveRequest, { type: 'batch' }>): FramesReply {
  const stalled = new Set(req.stalled);
  const builders = [...subscriptions.values()].map((s) => new OutputBuilder(s));
  const bytes = new Uint8Array(req.buf);
  let decoded = 0;
  let malformed = 0;
  for (let i = 0; i + 1 < req.offsets.length; i++) {
    const message = Buffer.from(bytes.buffer, req.offsets[i], req.offsets[i + 1] - req.offsets[i]);
    decoded++;
    try {
      const flow = decodeLiveFlow(message);
      if (!flow) continue;
      // What the writer refuses to store (no time, or one outside Timestamp's range) is not shown live either.
      if (!hasStorableTime(flow)) {
        malformed++;
        continue;
      }
      const frames = new FlowFrames(flow, message);
      for (const out of builders) {
        if (!frames.matches(out.sub)) continue;
        if (stalled.has(out.sub.id)) out.lost++;
        else out.add(frames.for(out.sub), frames.flowKey);
      }
    } catch {
      malformed++;
    }
  }
  const outputs = builders.filter((b) => b.frames.length > 0 || b.lost > 0).map((b) => b.finish());
  return { type: 'frames', seq: req.seq, outputs, decoded, malformed, buf: req.buf };
}

port.on('message', (m: LiveRequest) => {
  switch (m.type) {
    case 'subscribe':
      try {
        const mask = m.form.kind === 'grpc' ? compileFieldMask(m.form.maskPaths ?? []) : null;
        subscriptions.set(m.id, { id: m.id, filters: FilterSet.parse(m.filters), form: m.form, mask, keys: m.keys });
      } catch (err) {
        port.postMessage({ type: 'subscribe-failed', id: m.id, message: (err as Error).message } satisfies LiveReply);
      }
      return;
    case 'keys-off': {
      const s = subscriptions.get(m.id);
      if (s) s.keys = false;
      return;
    }
    case 'unsubscribe':
      subscriptions.delete(m.id);
      return;
    case 'batch': {
      const reply = encodeBatch(m);
      port.postMessage(reply, [reply.buf, ...reply.outputs.flatMap((o) => [o.frames.buffer as ArrayBuffer, o.ends.buffer as ArrayBuffer])]);
      return;
    }
  }
});
