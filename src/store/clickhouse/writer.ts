import { randomInt } from 'node:crypto';
import { decodeFlowRecord } from '../../flows/normalize.js';
import type { FlowTime } from '../../flows/record.js';
import { flowKey } from '../../flows/record.js';
import { fromNanos, toNanos } from '../../query/time.js';
import { DedupeWindow, MAX_FUTURE_SKEW_SECONDS } from '../dedupe.js';
import { FLOW_COLUMNS, FlowScanner, writeFlowRow } from './columns.js';
import type { ScannedFlow } from './columns.js';
import type { ClickHouseHttp } from './http.js';
import { RowBinaryReader, RowBinaryWriter, rowBinaryString } from './row-binary.js';
import { stringLiteral } from './where.js';
import { MetricDeltaAccumulator } from '../metric-deltas.js';
import { MetricNameInterner } from './metric-names.js';
import { LabelSets, insertLabelSets } from './label-sets.js';
import { flowEnvelope } from '../writes.js';
import type { BatchResult, LostEventCount } from '../writes.js';

/** What a batch did, as BatchResult says it (the worker adds what it received; a malformed flow here is not sampled). */
export type ClickHouseBatchResult = Omit<BatchResult, 'received' | 'malformedSample'>;

/** Most flow keys one resume loads to drop the relay's replayed overlap. */
const MAX_RESUME_KEYS = 1_000_000;

/** seq is a writer's id shifted left this far, plus its count of flows written (shared-relays.ts reads the id back). */
export const WRITER_ID_SHIFT = 40;

/**
 * Writes batches of raw GetFlowsResponse messages into ClickHouse's flows
 * table: each relay batch is prepared into RowBinary rows, and one insert
 * (an InsertGroup) holds one or more of them. Rows are ordered by (time, seq):
 * seq is a random 23-bit writer id over a 40-bit count of the flows it wrote,
 * so flows sharing a nanosecond keep the order they came in, and seq ranges
 * identify batches (a writer id is shared by two writers once in about eight
 * million pairs; a count runs out after 10^12 flows). After a reconnect
 * the relay replays the overlap before the last stored flow; those flows are
 * recognised by their keys (uuid, or time, node and addresses) and dropped.
 */
export class ClickHouseFlowWriter {
  private seq: bigint;
  private readonly windows = new Map<string, DedupeWindow>();
  private readonly rows = new RowBinaryWriter();
  private readonly names = new MetricNameInterner();
  private readonly labelSets = new LabelSets();
  private readonly scanner = new FlowScanner(this.names, this.labelSets);
  private readonly deltas = new MetricDeltaAccumulator();

  constructor(
    private readonly ch: ClickHouseHttp,
    private readonly overlapSeconds: number,
    writerId = randomInt(1, 2 ** 23),
  ) {
    this.seq = BigInt(writerId) << BigInt(WRITER_ID_SHIFT);
  }

  /** Where a relay's stream should resume (the last stored flow minus the overlap), or null when it has none stored. */
  async resume(relay: string): Promise<FlowTime | null> {
    // A flow dated ahead of this clock (skew) is never the resume point, as in the SQLite store.
    const future = BigInt(Math.ceil(Date.now() / 1000 + MAX_FUTURE_SKEW_SECONDS)) * 1_000_000_000n;
    const [row] = await this.ch.rows<{ newest: string; n: string }>(`SELECT max(time_ns) AS newest, count() AS n FROM flows WHERE relay = ${stringLiteral(relay)} AND time_ns <= ${future}`);
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
    const at = fromNanos(newest);
    this.windows.set(relay, new DedupeWindow(at.seconds, at.nanos, seen));
    return fromNanos(since);
  }

  /** Prepares and commits a batch in one attempt; on failure the batch is given up (retry a batch with prepare() and commit()). */
  async writeBatch(relay: string, buf: Buffer, offsets: ArrayLike<number>): Promise<ClickHouseBatchResult> {
    const batch = this.prepare(relay, buf, offsets);
    try {
      await this.commit(InsertGroup.of(batch));
    } catch (err) {
      this.abandon(batch);
      throw err;
    }
    return batch.result;
  }

  /**
   * Turns a batch of relay messages into RowBinary rows. Its rows get this
   * writer's next seq numbers, which no other batch shares: they are the
   * batch's identity in ClickHouse, so a retried commit can ask whether the
   * earlier attempt landed instead of inserting twice.
   */
  prepare(relay: string, buf: Buffer, offsets: ArrayLike<number>): PreparedBatch {
    const result: ClickHouseBatchResult = { stored: 0, duplicates: 0, malformed: 0, lostEvents: [], nodeStatus: [], futureDated: 0, newest: null, metrics: [], metricNames: undefined };
    const lost = new Map<string, LostEventCount>();
    const future = Date.now() / 1000 + MAX_FUTURE_SKEW_SECONDS;
    const window = this.windows.get(relay);
    let newestNs = -1n;
    const firstSeq = this.seq;
    const keys: string[] = [];
    const relayColumn = rowBinaryString(relay);
    this.rows.reset();
    for (let i = 0; i + 1 < offsets.length; i++) {
      const message = buf.subarray(offsets[i], offsets[i + 1]);
      let flow: ScannedFlow;
      try {
        const env = flowEnvelope(message, 0, message.length, lost, result.nodeStatus);
        if (!env) continue;
        flow = this.scanner.scan(message, env.start, env.end);
      } catch {
        result.malformed++;
        continue;
      }
      const { seconds, nanos } = flow.row;
      // Within a resumed relay's replayed overlap the flow's key says whether it is stored already.
      if (window && window.covers(seconds, nanos)) {
        const record = decodeFlowRecord(message);
        const key = record ? flowKey(record) : null;
        if (key !== null && window.seen(key)) {
          result.duplicates++;
          continue;
        }
        if (key !== null) keys.push(key);
      }
      const ns = toNanos(flow.row);
      if (seconds > future) result.futureDated++;
      else if (ns > newestNs) newestNs = ns;
      writeFlowRow(this.rows, flow, ns, this.seq++, relayColumn, message);
      result.stored++;
      const r = flow.row;
      this.deltas.add({
        cluster: r.cluster, verdict: r.verdict, dropReason: r.dropReason, direction: r.direction, eventType: r.eventType ?? 0,
        srcWorkload: r.srcWorkload, dstWorkload: r.dstWorkload, deniedBy: r.deniedBy ?? 0,
      }, 1);
    }
    if (newestNs >= 0n) result.newest = fromNanos(newestNs);
    result.metrics = this.deltas.take();
    result.metricNames = this.names.takeNew();
    result.lostEvents = [...lost.values()];
    const lastSeq = this.seq - 1n;
    // The lost-events rows are a batch of their own, with a seq no flow has: a retry asks whether they landed.
    const lostEvents = lost.size ? { seq: this.seq++, minute: Math.floor(Date.now() / 60_000) } : null;
    return { relay, body: this.rows.finish(), firstSeq, lastSeq, lostEvents, result, keys, labelSets: this.labelSets.take() };
  }

  /**
   * Inserts a group of prepared batches, prepared one after another by this
   * writer, as one insert into flows (and one into lost_events). Idempotent: a
   * retry first asks ClickHouse whether an earlier attempt landed (the group's
   * seq range is there) — an insert can succeed and its answer still be lost —
   * and inserts only when it did not. One insert is one block, so it lands
   * whole or not at all.
   */
  async commit(group: InsertGroup): Promise<void> {
    const retry = group.attempts++ > 0;
    const withFlows = group.batches.filter((b) => b.result.stored > 0);
    if (withFlows.length > 0 && (!retry || !(await this.landed(withFlows)))) {
      // Label sets first: a flow never points at a label set that is not stored.
      const labelSets = new Map<bigint, string>();
      for (const b of withFlows) for (const [hash, labels] of b.labelSets) labelSets.set(hash, labels);
      await insertLabelSets(this.ch, labelSets);
      await this.ch.insert('flows', FLOW_COLUMNS, withFlows.map((b) => b.body));
    }
    const withLost = group.batches.filter((b) => b.lostEvents !== null);
    if (withLost.length > 0 && (!retry || !(await this.lostEventsLanded(withLost[0].lostEvents!.seq)))) {
      const rows = withLost.flatMap((b) => b.result.lostEvents.map((l) => `(${b.lostEvents!.minute}, ${stringLiteral(b.relay)}, ${b.lostEvents!.seq}, ${l.source}, ${stringLiteral(l.node)}, ${l.events})`));
      await this.ch.command(`INSERT INTO lost_events (minute, relay, seq, source, node, events) VALUES ${rows.join(', ')}`);
    }
    // Once the stream is well past the resume point, the replay is over: free the keys.
    for (const b of group.batches) {
      if (this.windows.get(b.relay)?.replayOver(b.result.newest, this.overlapSeconds)) this.windows.delete(b.relay);
    }
  }

  /** Gives up a batch that will not be committed: its flows are no longer taken for duplicates when the relay sends them again. */
  abandon(batch: PreparedBatch): void {
    this.windows.get(batch.relay)?.unsee(batch.keys);
    this.names.restore(batch.result.metricNames);
    this.labelSets.restore(batch.labelSets);
  }

  private async lostEventsLanded(seq: bigint): Promise<boolean> {
    const [row] = await this.ch.rows<{ n: string }>(`SELECT count() AS n FROM lost_events WHERE seq = ${seq}`);
    return row.n !== '0';
  }

  /** Whether the flows of these batches, prepared one after another (so their seqs are one range), are stored. */
  private async landed(batches: PreparedBatch[]): Promise<boolean> {
    const [row] = await this.ch.rows<{ n: string }>(`SELECT count() AS n FROM flows WHERE seq >= ${batches[0].firstSeq} AND seq <= ${batches[batches.length - 1].lastSeq}`);
    return Number(row.n) === batches.reduce((n, b) => n + b.result.stored, 0);
  }
}

/** A batch ready to insert, and what it holds. */
export interface PreparedBatch {
  relay: string;
  body: Buffer;
  firstSeq: bigint;
  lastSeq: bigint;
  /** Where the batch's lost-events rows go (null: it has none) */
  lostEvents: { seq: bigint; minute: number } | null;
  result: ClickHouseBatchResult;
  /** Keys of the replayed overlap this batch claims (see abandon) */
  keys: string[];
  /** Label sets its flows use first, written before them */
  labelSets: Map<bigint, string>;
}

/**
 * Prepared batches that go into ClickHouse as one insert: ClickHouse makes a
 * part (a directory of files per column, merged later) from every insert, so
 * few large inserts cost it far less than many small ones.
 */
export class InsertGroup {
  readonly batches: PreparedBatch[] = [];
  /** Flow rows in the group */
  rows = 0;
  /** Commits tried so far (a retry first asks whether an earlier one landed) */
  attempts = 0;

  static of(...batches: PreparedBatch[]): InsertGroup {
    const group = new InsertGroup();
    for (const b of batches) group.add(b);
    return group;
  }

  add(batch: PreparedBatch): void {
    this.batches.push(batch);
    this.rows += batch.result.stored;
  }
}
