import { ResponseKind, scanEnvelope } from '../../flows/envelope.js';
import { decodeFlowRecord } from '../../flows/normalize.js';
import type { FlowTime } from '../../flows/record.js';
import { flowKey } from '../../flows/record.js';
import { DedupeWindow } from '../dedupe.js';
import { FLOW_COLUMNS, FlowScanner, writeFlowRow } from './columns.js';
import type { ScannedFlow } from './columns.js';
import type { ClickHouseHttp } from './http.js';
import { RowBinaryReader, RowBinaryWriter } from './row-binary.js';
import { stringLiteral } from './where.js';

export interface ClickHouseBatchResult {
  stored: number;
  duplicates: number;
  /** Messages that could not be read (kept out, counted) */
  malformed: number;
  /** Node status and lost-events messages (not stored in ClickHouse yet) */
  skipped: number;
  newest: FlowTime | null;
}

const NS = 1_000_000_000n;

function timeNs(t: FlowTime): bigint {
  return BigInt(t.seconds) * NS + BigInt(t.nanos);
}

function flowTime(ns: bigint): FlowTime {
  return { seconds: Number(ns / NS), nanos: Number(ns % NS) };
}

/** Most flow keys one resume loads to drop the relay's replayed overlap. */
const MAX_RESUME_KEYS = 1_000_000;

/**
 * Writes batches of raw GetFlowsResponse messages into ClickHouse's flows
 * table, one RowBinary insert per batch. Rows are ordered by (time, seq):
 * seq grows with arrival in this writer (its start time in the high bits), so
 * flows sharing a nanosecond keep the order they came in. After a reconnect
 * the relay replays the overlap before the last stored flow; those flows are
 * recognised by their keys (uuid, or time, node and addresses) and dropped.
 */
export class ClickHouseFlowWriter {
  private seq: bigint;
  private readonly windows = new Map<string, DedupeWindow>();
  private readonly rows = new RowBinaryWriter();
  private readonly scanner = new FlowScanner();

  constructor(
    private readonly ch: ClickHouseHttp,
    private readonly overlapSeconds: number,
    startedMs = Date.now(),
  ) {
    this.seq = BigInt(startedMs) << 20n;
  }

  /** Where a relay's stream should resume (the last stored flow minus the overlap), or null when it has none stored. */
  async resume(relay: string): Promise<FlowTime | null> {
    const [row] = await this.ch.rows<{ newest: string; n: string }>(`SELECT max(time_ns) AS newest, count() AS n FROM flows WHERE relay = ${stringLiteral(relay)}`);
    if (!row || row.n === '0') {
      this.windows.delete(relay);
      return null;
    }
    const newest = BigInt(row.newest);
    const since = newest - BigInt(Math.round(this.overlapSeconds * 1e9));
    const stored = new RowBinaryReader(await this.ch.binary(`SELECT response FROM flows WHERE relay = ${stringLiteral(relay)} AND time_ns >= ${since} LIMIT ${MAX_RESUME_KEYS}`));
    const seen = new Set<string>();
    while (!stored.done) {
      const record = decodeFlowRecord(stored.bytes());
      if (record) seen.add(flowKey(record));
    }
    const at = flowTime(newest);
    this.windows.set(relay, new DedupeWindow(at.seconds, at.nanos, seen));
    return flowTime(since);
  }

  async writeBatch(relay: string, buf: Buffer, offsets: ArrayLike<number>): Promise<ClickHouseBatchResult> {
    const result: ClickHouseBatchResult = { stored: 0, duplicates: 0, malformed: 0, skipped: 0, newest: null };
    const window = this.windows.get(relay);
    const keysSeen: string[] = [];
    let newestNs = -1n;
    for (let i = 0; i + 1 < offsets.length; i++) {
      const message = buf.subarray(offsets[i], offsets[i + 1]);
      let flow: ScannedFlow;
      try {
        const env = scanEnvelope(message, 0, message.length);
        if (env.kind !== ResponseKind.Flow) {
          result.skipped++;
          continue;
        }
        flow = this.scanner.scan(message, env.start, env.end);
      } catch {
        result.malformed++;
        continue;
      }
      const { seconds, nanos } = flow.row;
      if (window && window.covers(seconds, nanos)) {
        // Within a resumed relay's replayed overlap: the flow's key says whether it is stored already.
        const record = decodeFlowRecord(message);
        const key = record ? flowKey(record) : null;
        if (key !== null && window.seen(key)) {
          result.duplicates++;
          continue;
        }
        if (key !== null) keysSeen.push(key);
      }
      const ns = timeNs({ seconds, nanos });
      if (ns > newestNs) newestNs = ns;
      writeFlowRow(this.rows, flow, ns, this.seq++, relay, message);
      result.stored++;
    }
    const body = this.rows.finish();
    if (result.stored > 0) {
      try {
        await this.ch.insert('flows', FLOW_COLUMNS, body);
      } catch (err) {
        // Not stored: the retry of this batch must not take its flows for duplicates.
        window?.unsee(keysSeen);
        throw err;
      }
      result.newest = flowTime(newestNs);
    }
    if (window && result.newest && result.newest.seconds > window.seconds + this.overlapSeconds) this.windows.delete(relay);
    return result;
  }
}
