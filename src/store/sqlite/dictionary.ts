import type { Interner } from '../../flows/scan.js';
import type { DictKind } from '../../flows/row.js';
import { decodeEndpoint, workloadOf } from '../../flows/endpoint.js';
import type { WorkloadNames } from '../../flows/endpoint.js';
import type { Db } from './sqlite.js';
import { ByteKeyCache } from '../../flows/byte-key-cache.js';
import { clusterOfNode } from '../../flows/node-name.js';

/** Entries kept in memory per cache before it is cleared (bounds RSS; misses fall back to SQLite). */
export const DICTIONARY_CACHE_LIMIT = 100_000;

class BoundedCache<V> {
  private readonly map = new Map<string, V>();

  constructor(private readonly limit: number) {}

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V): void {
    if (this.map.size >= this.limit) this.map.clear();
    this.map.set(key, value);
  }

  clear(): void {
    this.map.clear();
  }
}

interface EndpointRef {
  id: number;
  workload: number;
  labelSet: number;
}
interface NodeRef {
  id: number;
  cluster: number;
}

/**
 * The writer's side of the dictionaries: finds or creates ids for raw bytes,
 * endpoints and nodes. Must be used inside the writer's transaction; call
 * `forget()` when that transaction rolls back, since new ids were not kept.
 */
export class WriterDictionary implements Interner {
  private readonly values = new ByteKeyCache<number>(DICTIONARY_CACHE_LIMIT);
  private readonly endpoints = new ByteKeyCache<EndpointRef>(DICTIONARY_CACHE_LIMIT);
  private readonly nodes = new BoundedCache<NodeRef>(DICTIONARY_CACHE_LIMIT);
  private readonly clusters = new Map<string, number>();
  private readonly labelSets = new BoundedCache<number>(DICTIONARY_CACHE_LIMIT);
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      findValue: db.prepare('SELECT id FROM dict WHERE kind = ? AND value = ?').pluck(),
      insertValue: db.prepare('INSERT INTO dict (kind, value) VALUES (?, ?)'),
      findEndpoint: db.prepare('SELECT id, workload_id AS workload, label_set AS labelSet FROM endpoints WHERE raw = ?'),
      insertEndpoint: db.prepare(
        `INSERT INTO endpoints (raw, workload_id, identity, namespace, pod_name, cluster_name, labels, label_set)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      findLabelSet: db.prepare('SELECT id FROM label_sets WHERE labels = ?').pluck(),
      insertLabelSet: db.prepare('INSERT INTO label_sets (labels) VALUES (?)'),
      findWorkload: db
        .prepare('SELECT id FROM workloads WHERE cluster = ? AND namespace = ? AND name = ? AND kind = ?')
        .pluck(),
      insertWorkload: db.prepare('INSERT INTO workloads (cluster, namespace, name, kind) VALUES (?, ?, ?, ?)'),
      findNode: db.prepare('SELECT id, cluster_id AS cluster FROM nodes WHERE name = ?'),
      insertNode: db.prepare('INSERT INTO nodes (name, cluster_id) VALUES (?, ?)'),
      findCluster: db.prepare('SELECT id FROM clusters WHERE name = ?').pluck(),
      insertCluster: db.prepare('INSERT INTO clusters (name) VALUES (?)'),
    };
  }

  intern(kind: DictKind, buf: Buffer, start: number, end: number): number {
    const cached = this.values.get(buf, start, end, kind);
    if (cached !== undefined) return cached;
    const bytes = buf.subarray(start, end);
    let id = this.stmts.findValue.get(kind, bytes) as number | undefined;
    id ??= Number(this.stmts.insertValue.run(kind, bytes).lastInsertRowid);
    this.values.set(buf, start, end, id, kind);
    return id;
  }

  endpoint(buf: Buffer, start: number, end: number): EndpointRef {
    const cached = this.endpoints.get(buf, start, end);
    if (cached !== undefined) return cached;
    const raw = buf.subarray(start, end);
    let ref = this.stmts.findEndpoint.get(raw) as EndpointRef | undefined;
    if (!ref) {
      const ep = decodeEndpoint(raw);
      const workload = this.workload(workloadOf(ep));
      const labels = JSON.stringify(ep.labels);
      const labelSet = this.labelSet(labels);
      const info = this.stmts.insertEndpoint.run(raw, workload, ep.identity, ep.namespace, ep.pod_name, ep.cluster_name, labels, labelSet);
      ref = { id: Number(info.lastInsertRowid), workload, labelSet };
    }
    this.endpoints.set(buf, start, end, ref);
    return ref;
  }

  node(buf: Buffer, start: number, end: number): NodeRef {
    const name = buf.toString('utf8', start, end);
    const cached = this.nodes.get(name);
    if (cached !== undefined) return cached;
    let ref = this.stmts.findNode.get(name) as NodeRef | undefined;
    if (!ref) {
      const cluster = this.cluster(clusterOfNode(name));
      ref = { id: Number(this.stmts.insertNode.run(name, cluster).lastInsertRowid), cluster };
    }
    this.nodes.set(name, ref);
    return ref;
  }

  private cluster(name: string): number {
    let id = this.clusters.get(name);
    if (id !== undefined) return id;
    id = (this.stmts.findCluster.get(name) as number | undefined) ?? Number(this.stmts.insertCluster.run(name).lastInsertRowid);
    this.clusters.set(name, id);
    return id;
  }

  /** Id of an endpoint label set (its JSON array), as rollups key it. */
  private labelSet(labels: string): number {
    const cached = this.labelSets.get(labels);
    if (cached !== undefined) return cached;
    const id = (this.stmts.findLabelSet.get(labels) as number | undefined) ?? Number(this.stmts.insertLabelSet.run(labels).lastInsertRowid);
    this.labelSets.set(labels, id);
    return id;
  }

  private workload(w: WorkloadNames): number {
    const found = this.stmts.findWorkload.get(w.cluster, w.namespace, w.name, w.kind) as number | undefined;
    if (found !== undefined) return found;
    return Number(this.stmts.insertWorkload.run(w.cluster, w.namespace, w.name, w.kind).lastInsertRowid);
  }

  /** Drops every cached id (after a rolled-back transaction some may not exist). */
  forget(): void {
    this.values.clear();
    this.endpoints.clear();
    this.nodes.clear();
    this.clusters.clear();
    this.labelSets.clear();
  }
}
