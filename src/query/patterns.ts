import { RE2JS } from 're2js';
import { FlowkeeperError } from '../errors.js';

/**
 * Every user-supplied pattern (regexes, FQDN and node-name globs) is compiled
 * here, to RE2 — the engine Hubble uses (Go's regexp) — through re2js, which
 * matches in time linear in the subject: no input can make a match backtrack.
 * Sizes are bounded so that compiled automata stay small.
 */

export const MAX_PATTERN_LENGTH = 1024;
/** Longest glob accepted (DNS names are at most 253 characters). */
export const MAX_GLOB_LENGTH = 256;
/** Most `*` in one glob: each is a state of the automaton, so they bound its cost per name. */
export const MAX_GLOB_STARS = 16;

export interface Pattern {
  /** True when the pattern matches somewhere in `subject` (Go's MatchString). */
  test(subject: string): boolean;
}

function bad(parameter: string, message: string): never {
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: ${message}`, parameter);
}

function compileRe2(source: string, parameter: string): Pattern {
  try {
    const re = RE2JS.compile(source);
    return { test: (subject) => re.test(subject) };
  } catch (err) {
    return bad(parameter, (err as Error).message);
  }
}

/** A user regex with RE2 syntax and semantics (`\A`, `\z`, `[[:alpha:]]`, `(?P<n>…)`, `(?i)` anywhere). */
export function compileUserRegex(pattern: string, parameter: string): Pattern {
  if (pattern.length > MAX_PATTERN_LENGTH) bad(parameter, `pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  return compileRe2(pattern, parameter);
}

/** One FQDN pattern as Hubble reads it: trimmed, one trailing dot dropped, lower-cased; `*` = `[-.0-9a-z]*`. */
function fqdnPatternRegex(raw: string, parameter: string): string {
  if (raw.length > MAX_GLOB_LENGTH) bad(parameter, `pattern longer than ${MAX_GLOB_LENGTH} characters`);
  const pattern = raw.trim().replace(/\.$/, '').toLowerCase();
  if (pattern === '') bad(parameter, `${JSON.stringify(raw)}: empty pattern`);
  if (pattern.endsWith('.')) bad(parameter, `${JSON.stringify(raw)}: multiple trailing dots in pattern`);
  if (pattern.split('*').length - 1 > MAX_GLOB_STARS) bad(parameter, `more than ${MAX_GLOB_STARS} "*" in one pattern`);
  let out = '';
  for (const ch of pattern) {
    if (ch === '.') out += '\\.';
    else if (ch === '*') out += '[-.0-9a-z]*';
    else if (/^[-0-9_a-z]$/.test(ch)) out += ch;
    else bad(parameter, `${JSON.stringify(raw)}: ${JSON.stringify(ch)} is not allowed in a pattern (a-z, 0-9, "-", "_", ".", "*")`);
  }
  return out;
}

/**
 * Cilium's DNS `matchPattern` (toFQDNs and DNS proxy rules): `*` alone matches
 * every name; otherwise `*` matches within one label (`[-a-zA-Z0-9_]*`), and a
 * leading `**.` any number of labels. Names compare case-insensitively without
 * the trailing dot. `matchName` is the same with no wildcards.
 */
export function compileDnsPattern(raw: string, wildcards: boolean, parameter: string): Pattern {
  if (raw.length > MAX_GLOB_LENGTH) bad(parameter, `pattern longer than ${MAX_GLOB_LENGTH} characters`);
  const pattern = raw.trim().replace(/\.$/, '').toLowerCase();
  if (pattern === '') bad(parameter, 'empty DNS name');
  const normal = (name: string): string => name.replace(/\.$/, '').toLowerCase();
  if (wildcards && pattern === '*') return { test: () => true };
  if (pattern.split('*').length - 1 > MAX_GLOB_STARS) bad(parameter, `more than ${MAX_GLOB_STARS} "*" in one pattern`);
  let body = pattern;
  let out = '';
  if (wildcards && body.startsWith('**.')) {
    out = '(?:[-a-z0-9_]+\\.)+';
    body = body.slice(3);
  }
  for (const ch of body) {
    if (ch === '.') out += '\\.';
    else if (ch === '*' && wildcards) out += '[-a-z0-9_]*';
    else if (/^[-0-9_a-z]$/.test(ch)) out += ch;
    else bad(parameter, `${JSON.stringify(raw)}: ${JSON.stringify(ch)} is not allowed in a DNS ${wildcards ? 'pattern' : 'name'}`);
  }
  const re = compileRe2(`\\A${out}\\z`, parameter);
  return { test: (name) => re.test(normal(name)) };
}

/** Any FQDN (what an empty half of a node-name pattern matches). */
const ANY_FQDN = '(?:[-0-9_a-z]+(?:\\.[-0-9_a-z]+)*)';

/**
 * FQDN patterns (`source_fqdn`, `destination_fqdn`): the whole name must match
 * one pattern. The name itself is compared as sent (a pattern is lower-cased,
 * the name is not, as in Hubble).
 */
export function compileFqdnPatterns(patterns: string[], parameter: string): Pattern {
  return compileRe2(`\\A(?:${patterns.map((p) => fqdnPatternRegex(p, parameter)).join('|')})\\z`, parameter);
}

/**
 * Node-name patterns: `cluster/node`, each half an FQDN pattern and an empty
 * half matching anything; without "/" the pattern is a node pattern in any
 * cluster. Names are matched as `cluster/node` (a name without a cluster is in
 * cluster "default").
 */
export function compileNodeNamePatterns(patterns: string[], parameter: string): Pattern {
  const parts = patterns.map((p) => {
    if (p === '') bad(parameter, 'empty pattern');
    const halves = p.split('/');
    if (halves.length > 2) bad(parameter, `${JSON.stringify(p)}: too many slashes in pattern`);
    const [cluster, node] = halves.length === 1 ? ['', halves[0]] : halves;
    const half = (h: string): string => (h === '' ? ANY_FQDN : fqdnPatternRegex(h, parameter));
    return `${half(cluster)}/${half(node)}`;
  });
  const re = compileRe2(`\\A(?:${parts.join('|')})\\z`, parameter);
  return {
    test: (name) => name !== '' && re.test(name.includes('/') ? name : `default/${name}`),
  };
}
