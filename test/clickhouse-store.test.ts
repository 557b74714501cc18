import { clickhouseSkip, startClickHouse } from './helpers/clickhouse.js';
import { clickhouseStoreSuite } from './helpers/clickhouse-store-suite.js';
import { ClickHouseHttp } from '../src/store/clickhouse/http.js';

/** The ClickHouse store against SQLite (helpers/clickhouse-store-suite.ts) on a ClickHouse 18.16 server, Debian's. */
clickhouseStoreSuite({
  label: '',
  skip: clickhouseSkip,
  server: true,
  open: async () => {
    const server = await startClickHouse();
    return {
      client: (database) => new ClickHouseHttp({ url: server.url, database, user: 'default', password: '', timeoutMs: 30_000 }),
      kill: server.kill,
      start: server.start,
      close: server.stop,
    };
  },
});
