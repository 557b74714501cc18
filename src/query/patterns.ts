import { setFlagsFromString } from 'node:v8';
import { FlowkeeperError } from '../errors.js';

// V8's linear-time engine (the `l` flag) runs user patterns without backtracking,
// so a hostile pattern cannot stall the process. Like RE2, which Hubble uses, it
// rejects backreferences and lookaround.
setFlagsFromString('--enable-experimental-regexp-engine');

export const MAX_PATTERN_LENGTH = 1024;
/** V8's linear-time (backtracking-free) regexp engine. */
const LINEAR: string = 'l';

/** Compiles a user-supplied RE2-style pattern for linear-time matching; 400 on anything else. */
export function compileUserRegex(pattern: string, parameter: string): RegExp {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: pattern longer than ${MAX_PATTERN_LENGTH} characters`, parameter);
  }
  let source = pattern;
  let flags = 'l';
  // RE2's leading (?i) becomes the i flag.
  if (source.startsWith('(?i)')) {
    source = source.slice(4);
    flags += 'i';
  }
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`, parameter);
  }
}

/** Longest glob accepted (DNS names are at most 253 characters). */
export const MAX_GLOB_LENGTH = 256;
/** Most `*` in one glob: each is a state of the linear-time matcher, so they bound its cost per name. */
export const MAX_GLOB_STARS = 16;

/**
 * Compiles a glob (`*` = any run of `starClass` characters) into an anchored,
 * linear-time matcher. Matching is case-insensitive: pattern and subject are
 * lower-cased (V8's linear engine has no `i` flag).
 */
export function compileGlob(glob: string, parameter: string, starClass: string): (subject: string) => boolean {
  if (glob.length > MAX_GLOB_LENGTH) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: pattern longer than ${MAX_GLOB_LENGTH} characters`, parameter);
  }
  const collapsed = glob.toLowerCase().replace(/\*+/g, '*');
  if (collapsed.split('*').length - 1 > MAX_GLOB_STARS) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: more than ${MAX_GLOB_STARS} "*" in one pattern`, parameter);
  }
  const body = collapsed.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&')).join(`${starClass}*`);
  const re = new RegExp(`^${body}$`, LINEAR);
  return (subject) => re.test(subject.toLowerCase());
}
