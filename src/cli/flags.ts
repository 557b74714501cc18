import { FILTER_PARAMETERS } from '../query/shorthands.js';

/** Short flags of hubble observe's filters, shared by every command that takes them. */
const FILTER_ALIASES: Record<string, string> = { n: 'namespace', t: 'type', l: 'label', A: 'all_namespaces' };

/** hubble observe's boolean filter flags (no value) → query parameter and value. */
const BOOLEAN_FILTERS: Record<string, [string, string]> = {
  all_namespaces: ['all_namespaces', 'true'], from_all_namespaces: ['from_all_namespaces', 'true'], to_all_namespaces: ['to_all_namespaces', 'true'],
  encrypted: ['encrypted', 'true'], unencrypted: ['encrypted', 'false'],
};

/** A command's own flag: its name (aliases resolved, "-" as "_"), the flag as typed, and a reader for its value. */
export type OwnFlag = (name: string, raw: string, value: () => string) => boolean;

/**
 * Reads a command line of `hubble observe`-style flags: the filter flags (with
 * `--not` before one to negate it) go into `params` as the API's query
 * parameters. Each flag goes to `own` first, which says whether it took it.
 */
export function readFlags(argv: string[], aliases: Record<string, string>, params: URLSearchParams, own: OwnFlag, command: string): void {
  let negate = false;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    const bare = raw.replace(/^--?/, '');
    const name = (aliases[bare] ?? FILTER_ALIASES[bare] ?? bare).replace(/-/g, '_');
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${raw} needs a value`);
      return v;
    };
    if (name === 'not') negate = true;
    else if (own(name, raw, value)) continue;
    else if (BOOLEAN_FILTERS[name]) {
      const [param, v] = BOOLEAN_FILTERS[name];
      params.append(negate ? `not_${param}` : param, v);
      negate = false;
    } else if (FILTER_PARAMETERS.includes(name)) {
      params.append(negate ? `not_${name}` : name, value());
      negate = false;
    } else throw new Error(`unknown flag ${raw} (see flowkeeper ${command} --help)`);
  }
}
