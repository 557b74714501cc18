import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (or installed package) root: the nearest folder above this file with a package.json. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('flowkeeper: cannot find package root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export const ROOT_DIR = findRoot();
export const PROTO_DIR = join(ROOT_DIR, 'proto');
export const MIGRATIONS_DIR = join(ROOT_DIR, 'migrations');
export const CLICKHOUSE_MIGRATIONS_DIR = join(MIGRATIONS_DIR, 'clickhouse');
