import type protobuf from 'protobufjs';
import { messageToJsonpb } from '../../flows/jsonpb.js';
import type { JsonObject } from '../../flows/jsonpb.js';
import { DictKind } from '../../flows/row.js';
import { EndpointType, FlowType, lookupType } from '../../flows/schema.js';
import type { DictionaryIndex, JsonValueOf } from '../../query/model.js';
import type { Db } from './sqlite.js';

const DECODERS: Partial<Record<DictKind, (b: Buffer) => JsonValueOf>> = {};
const asJson = (type: protobuf.Type) => (b: Buffer): JsonObject => messageToJsonpb(type, type.decode(b) as unknown as Record<string, unknown>);
DECODERS[DictKind.Ip] = (b) => b.toString('utf8');
DECODERS[DictKind.Summary] = (b) => b.toString('utf8');
DECODERS[DictKind.Names] = asJson(FlowType);
DECODERS[DictKind.NodeLabels] = asJson(FlowType);
DECODERS[DictKind.PolicyDenied] = asJson(FlowType);
DECODERS[DictKind.PolicyAllowed] = asJson(FlowType);
DECODERS[DictKind.Service] = asJson(lookupType('flow.Service'));
DECODERS[DictKind.Interface] = asJson(lookupType('flow.NetworkInterface'));
DECODERS[DictKind.L7Record] = asJson(lookupType('flow.Layer7'));

interface Loaded<T> {
  maxId: number;
  entries: { id: number; value: T }[];
}

/**
 * Decoded dictionary entries for query planning, loaded incrementally (entries
 * are append-only, so each call only reads rows newer than the last one seen).
 */
export class StoreDictionaryIndex implements DictionaryIndex {
  private readonly endpoints: Loaded<JsonObject> = { maxId: 0, entries: [] };
  private readonly nodes: Loaded<string> = { maxId: 0, entries: [] };
  private readonly values = new Map<DictKind, Loaded<JsonValueOf>>();

  constructor(private readonly db: Db) {}

  endpointIds(match: (endpoint: JsonObject) => boolean): number[] {
    this.refresh(this.endpoints, 'SELECT id, raw AS value FROM endpoints WHERE id > ? ORDER BY id', [], (b: Buffer) =>
      messageToJsonpb(EndpointType, EndpointType.decode(b) as unknown as Record<string, unknown>));
    return this.endpoints.entries.filter((e) => match(e.value)).map((e) => e.id);
  }

  nodeIds(match: (nodeName: string) => boolean): number[] {
    this.refresh(this.nodes, 'SELECT id, name AS value FROM nodes WHERE id > ? ORDER BY id', [], (v: string) => v);
    return this.nodes.entries.filter((e) => match(e.value)).map((e) => e.id);
  }

  valueIds(kind: DictKind, match: (decoded: JsonValueOf) => boolean): number[] {
    let loaded = this.values.get(kind);
    if (!loaded) {
      loaded = { maxId: 0, entries: [] };
      this.values.set(kind, loaded);
    }
    this.refresh(loaded, 'SELECT id, value FROM dict WHERE id > ? AND kind = ? ORDER BY id', [kind], DECODERS[kind]!);
    return loaded.entries.filter((e) => match(e.value)).map((e) => e.id);
  }

  private refresh<R, T>(loaded: Loaded<T>, sql: string, extra: unknown[], decode: (raw: R) => T): void {
    const rows = this.db.prepare(sql).all(loaded.maxId, ...extra) as { id: number; value: R }[];
    for (const r of rows) {
      loaded.entries.push({ id: r.id, value: decode(r.value) });
      loaded.maxId = r.id;
    }
  }
}
