import { join } from 'node:path';
import { GetFlowsResponseType } from '../../src/flows/schema.js';
import { MIGRATIONS_DIR } from '../../src/paths.js';
import { migrate } from '../../src/store/sqlite/migrate.js';
import { openDatabase } from '../../src/store/sqlite/sqlite.js';
import { FlowWriter } from '../../src/store/sqlite/writer.js';
import { packBatch } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/harness.js';
import type { Figure } from './measure.js';

/** One workload's pod as a node sees a pod on another node: no endpoint id, only the pod name tells it apart. */
function remotePod(i: number): Record<string, unknown> {
  return {
    identity: 51234, namespace: 'payments', cluster_name: 'prod', pod_name: `checkout-7f9c5d8b4-${String(i).padStart(5, '0')}`,
    labels: ['k8s:app=checkout', 'k8s:io.kubernetes.pod.namespace=payments'], workloads: [{ name: 'checkout', kind: 'Deployment' }],
  };
}

/**
 * The SQLite writer alone (this thread) on flows between `pods` pods of one
 * workload, all seen from another node. Such endpoints differ only in the
 * middle of their bytes, which once put them all in one bucket of the
 * writer's dictionary cache (11,200 flows/s at 1,000 pods).
 */
export function benchWriterPods(pods: number, flows: number): Figure[] {
  const { dir, cleanup } = tempDir('flowkeeper-bench-pods-');
  try {
    const db = openDatabase(join(dir, 'pods.db'));
    migrate(db, MIGRATIONS_DIR);
    const writer = new FlowWriter(db, 5);
    const second = Math.floor(Date.now() / 1000) - 60;
    const messages = Array.from({ length: flows }, (_, i) => Buffer.from(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({
      flow: { time: { seconds: second, nanos: i }, verdict: 1, source: remotePod(i % pods), destination: remotePod((i * 7 + 3) % pods), node_name: 'prod/node-a', IP: { source: '10.0.0.1', destination: '10.0.0.2', ipVersion: 1 } },
      node_name: 'prod/node-a', time: { seconds: second, nanos: i },
    })).finish()));
    const t0 = performance.now();
    for (let i = 0; i < messages.length; i += 2000) {
      const { buf, offsets } = packBatch(messages.slice(i, i + 2000));
      writer.writeBatch('bench', buf, offsets);
    }
    const rate = flows / ((performance.now() - t0) / 1000);
    db.close();
    return [{ name: `SQLite writer, flows between ${pods.toLocaleString('en-US')} pods of one workload seen from another node`, value: rate, unit: 'flows/s', note: 'the writer thread alone, no gRPC' }];
  } finally {
    cleanup();
  }
}
