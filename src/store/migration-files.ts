import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlowkeeperError } from '../errors.js';

/** The numbered SQL files of a migrations folder, in order, with their checksums (both engines). */
export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

const FILE_PATTERN = /^(\d+)_[\w-]+\.sql$/;

export function readMigrations(dir: string): MigrationFile[] {
  const files = readdirSync(dir).filter((f) => FILE_PATTERN.test(f));
  const migrations = files.map((name) => {
    const sql = readFileSync(join(dir, name), 'utf8');
    const version = Number(FILE_PATTERN.exec(name)![1]);
    return { version, name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version === migrations[i - 1].version) {
      throw new FlowkeeperError(
        'FLOWKEEPER_ERR_MIGRATION',
        `two migrations share version ${migrations[i].version}: ${migrations[i - 1].name} and ${migrations[i].name}`,
      );
    }
  }
  return migrations;
}
