/** What the live hub (main thread) and the live thread say to each other. */

export interface LiveThreadSettings {
  /** Scheduling priority of the live thread (nice, 0–19): ingest comes first when the CPU is short. */
  nice: number;
}

/** How a subscriber's flows are encoded: WebSocket text frames, or gRPC frames of GetFlowsResponse (masked by these paths). */
export type LiveForm = { kind: 'ws' } | { kind: 'grpc'; maskPaths: string[] | null };

export type LiveRequest =
  | { type: 'subscribe'; id: number; filters: { whitelist: unknown[]; blacklist: unknown[] }; form: LiveForm; keys: boolean }
  /** The subscriber no longer holds flows: its flows' keys are no longer needed. */
  | { type: 'keys-off'; id: number }
  | { type: 'unsubscribe'; id: number }
  /** Raw relay messages back to back (message i is buf[offsets[i], offsets[i+1])); `stalled` subscribers only count their matches. */
  | { type: 'batch'; seq: number; buf: ArrayBuffer; offsets: Uint32Array; stalled: number[] };

/** One subscriber's share of a batch. */
export interface LiveOutput {
  id: number;
  /** Its frames back to back: frame i ends at ends[i]. */
  frames: Uint8Array;
  ends: Uint32Array;
  /** flowKey of each frame's flow, while the subscriber holds flows; else null. */
  keys: string[] | null;
  /** Matching flows not encoded because the subscriber was stalled. */
  lost: number;
}

export type LiveReply =
  | { type: 'frames'; seq: number; outputs: LiveOutput[]; decoded: number; malformed: number; buf: ArrayBuffer }
  | { type: 'subscribe-failed'; id: number; message: string };
