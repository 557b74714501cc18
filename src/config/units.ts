/** Parsers for human-friendly durations ("500ms", "15m", "24h", "30d") and sizes ("512MB", "10GiB"). */

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

/** Seconds in a duration like "90s", "15m", "1h30m"; throws on anything else. */
export function parseDuration(text: string): number {
  const parts = text.trim().match(/\d+(?:\.\d+)?(?:ms|s|m|h|d|w)/g);
  if (!parts || parts.join('') !== text.trim()) throw new Error(`"${text}" is not a duration (examples: 500ms, 30s, 15m, 24h, 7d)`);
  return parts.reduce((sum, p) => {
    const m = DURATION.exec(p)!;
    return sum + Number(m[1]) * DURATION_UNITS[m[2]];
  }, 0);
}

const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** A size option set to `auto` (e.g. `--retention-size auto`), as a number: whoever uses the option resolves it. */
export const AUTO_SIZE = -1;

/** Bytes in a size like "512MB", "10GiB" or a bare number of bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? (m[2] || 'b').toLowerCase() : '';
  if (!m || !(unit in SIZE_UNITS)) throw new Error(`"${text}" is not a size (examples: 0, 500MB, 10GiB)`);
  return Math.round(Number(m[1]) * SIZE_UNITS[unit]);
}
