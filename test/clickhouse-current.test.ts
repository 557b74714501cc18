import { ChdbEngine, chdbSkip } from './helpers/chdb.js';
import { clickhouseStoreSuite } from './helpers/clickhouse-store-suite.js';

/**
 * The ClickHouse store against SQLite (helpers/clickhouse-store-suite.ts) on
 * current ClickHouse: 26.7, in-process (chDB), where the schema takes its
 * column codecs and LowCardinality columns, as on the 24+ servers production
 * runs. Only what needs a server process (killing it, an unreachable address)
 * is left to clickhouse-store.test.ts.
 */
clickhouseStoreSuite({
  label: 'ClickHouse 26.7 (chDB): ',
  skip: chdbSkip,
  server: false,
  open: async () => {
    const engine = new ChdbEngine();
    return { client: (database) => engine.client(database), close: async () => engine.close() };
  },
});
