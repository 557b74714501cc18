import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { AUTO_SIZE } from '../../config/units.js';

/** `--retention-size auto`: the store may use this share of the filesystem holding it. */
export const AUTO_RETENTION_SHARE = 0.8;
/** Below this much free space the oldest raw partitions are dropped early, whatever the size setting. */
export const MIN_FREE_SHARE = 0.05;
/** The free-space floor is at most this many bytes (5 % of a huge volume is plenty). */
export const MIN_FREE_BYTES_CAP = 1024 ** 3;

export interface FilesystemSpace {
  totalBytes: number;
  freeBytes: number;
}

/** Size and free space (for unprivileged users) of the filesystem holding `path`, or null where unknown. */
export function filesystemSpace(path: string): FilesystemSpace | null {
  try {
    const s = statfsSync(dirname(path));
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch {
    return null;
  }
}

/**
 * The byte budget for the store: the configured size, or for `auto` a share of
 * the filesystem; never above 90 % of --db-max-size when that caps the file.
 */
export function retentionBytes(setting: number, dbPath: string, dbMaxBytes: number): number {
  let bytes = setting;
  // `auto`: resolved against the filesystem at each retention pass.
  if (setting === AUTO_SIZE) {
    const fs = filesystemSpace(dbPath);
    bytes = fs ? Math.floor(fs.totalBytes * AUTO_RETENTION_SHARE) : 0;
  }
  if (dbMaxBytes > 0) bytes = bytes > 0 ? Math.min(bytes, Math.floor(dbMaxBytes * 0.9)) : Math.floor(dbMaxBytes * 0.9);
  return bytes;
}

/** True when the filesystem holding `path` is nearly full. */
export function nearlyFull(path: string): boolean {
  const fs = filesystemSpace(path);
  return fs !== null && fs.freeBytes < Math.min(fs.totalBytes * MIN_FREE_SHARE, MIN_FREE_BYTES_CAP);
}
