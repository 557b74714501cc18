import { setFlagsFromString } from 'node:v8';
import { FlowkeeperError } from '../errors.js';

// V8's linear-time engine (the `l` flag) runs user patterns without backtracking,
// so a hostile pattern cannot stall the process. Like RE2, which Hubble uses, it
// rejects backreferences and lookaround.
setFlagsFromString('--enable-experimental-regexp-engine');

export const MAX_PATTERN_LENGTH = 1024;

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

/** A glob with `*` (any run of characters) as a case-insensitive anchored matcher. */
export function globToRegex(glob: string, flags = 'i'): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`, flags);
}
