import { readFileSync } from 'node:fs';
import { readFlags } from './flags.js';
import type { ReplayGroup, ReplayReport } from '../policy/replay.js';

export const POLICY_USAGE = `Usage: flowkeeper policy replay -f FILE [flags]   (against a running flowkeeper)

Replays the flows flowkeeper stored against proposed network policies and
reports what would newly be denied or allowed. Exit code: 0 when nothing that
was allowed would be denied, 1 when something would, 2 on errors.

  -f, --file FILE       proposed CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy /
                        NetworkPolicy YAML (repeatable; "-" reads stdin)
  --in-force FILE       policies in force (e.g. kubectl get cnp,ccnp,netpol -A -o yaml):
                        the proposed ones are added, replacing any of the same kind,
                        namespace and name. Without it, the proposed set is judged alone.
  --since T, --until T  range of flows to replay (RFC3339 or relative, e.g. 7d, 2h; default 24h)
  --top N               groups listed per section (default 50)
  -o, --output FORMAT   table (default) or json (the API's report)
  --server URL          flowkeeper API (default $FLOWKEEPER_SERVER or http://localhost:8080)
  --token TOKEN         bearer token (default $FLOWKEEPER_API_TOKEN)
  --not                 negate the next filter flag
  filters: the flags of flowkeeper query (-n/--namespace, --pod, --label, --verdict, ...)
`;

interface ReplayArgs {
  files: string[];
  inForce: string | null;
  output: 'table' | 'json';
  server: string;
  token: string;
  params: URLSearchParams;
}

const ALIASES: Record<string, string> = { f: 'file', o: 'output' };

export function parseReplayArgs(argv: string[], env: NodeJS.ProcessEnv): ReplayArgs {
  const out: ReplayArgs = { files: [], inForce: null, output: 'table', server: env.FLOWKEEPER_SERVER ?? 'http://localhost:8080', token: env.FLOWKEEPER_API_TOKEN ?? '', params: new URLSearchParams() };
  readFlags(argv, ALIASES, out.params, (name, _raw, value) => {
    if (name === 'file') out.files.push(value());
    else if (name === 'in_force') out.inForce = value();
    else if (name === 'server') out.server = value();
    else if (name === 'token') out.token = value();
    else if (name === 'output') {
      const o = value();
      if (o !== 'table' && o !== 'json') throw new Error(`--output: "${o}" is not table or json`);
      out.output = o;
    } else if (name === 'since' || name === 'until' || name === 'top') out.params.set(name, value());
    else return false;
    return true;
  }, 'policy');
  if (out.files.length === 0) throw new Error('policy replay needs the proposed policies: -f FILE');
  return out;
}

function readText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

const n = (x: number): string => x.toLocaleString('en-US');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padStart(widths[c]) : c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')).join('\n');
}

function section(title: string, groups: ReplayGroup[], omitted: number): string {
  if (groups.length === 0) return `${title}: none\n`;
  const flows = groups.reduce((s, g) => s + g.flows, 0);
  const rows = [['FLOWS', 'SOURCE → DESTINATION', 'PORT', 'L7', 'LAST SEEN', 'DECIDED BY']];
  for (const g of groups) rows.push([n(g.flows), `${g.source} → ${g.destination}`, g.port, g.l7 || '-', g.lastSeen.slice(0, 19).replace('T', ' '), g.decidedBy + (g.why ? ` — ${g.why}` : '')]);
  return `${title} (${n(flows)} flows in ${groups.length} groups${omitted ? `, ${omitted} more groups not listed` : ''})\n${table(rows)}\n`;
}

export function formatReport(r: ReplayReport): string {
  const s = r.summary;
  const parts = [
    `Replayed ${n(r.flows)} flows (${n(r.classes)} distinct) from ${r.since} to ${r.until} against ${r.policies.length} ${r.policies.length === 1 ? 'policy' : 'policies'}.`,
    `  would newly be denied: ${n(s['newly-denied'])}   would newly be allowed: ${n(s['newly-allowed'])}   undecidable: ${n(s.undecidable)}   unchanged: ${n(s.unchanged)}   dropped for other reasons: ${n(s['not-policy'])}`,
    ...(r.incomplete ? [`  INCOMPLETE: ${r.incomplete}`] : []),
    '',
    section('WOULD NEWLY BE DENIED', r.newlyDenied, r.omitted.newlyDenied),
    section('WOULD NEWLY BE ALLOWED', r.newlyAllowed, r.omitted.newlyAllowed),
    section('UNDECIDABLE FROM WHAT HUBBLE RECORDED', r.undecidable, r.omitted.undecidable),
    section('UNCHANGED', r.unchanged, r.omitted.unchanged),
    r.deadRules.length ? `RULES NO FLOW MATCHED\n${r.deadRules.map((d) => `  ${d.policy} ${d.path}`).join('\n')}\n` : 'RULES NO FLOW MATCHED: none\n',
    ...(r.warnings.length ? [`WARNINGS\n${r.warnings.map((w) => `  ${w}`).join('\n')}\n`] : []),
  ];
  return parts.join('\n');
}

/** `flowkeeper policy replay`: returns the exit code (1 when something allowed would be denied). */
export async function runPolicy(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'replay') throw new Error(`unknown policy command "${sub ?? ''}" (flowkeeper policy replay -f FILE; see flowkeeper policy --help)`);
  const args = parseReplayArgs(rest, env);
  const body = JSON.stringify({ policies: args.files.map(readText).join('\n---\n'), ...(args.inForce ? { in_force: readText(args.inForce) } : {}) });
  const base = args.server.replace(/\/$/, '');
  let res: Response;
  try {
    res = await fetch(`${base}/api/v1/policies/replay?${args.params.toString()}`, {
      method: 'POST', body, headers: { 'content-type': 'application/json', ...(args.token ? { authorization: `Bearer ${args.token}` } : {}) },
    });
  } catch (err) {
    throw new Error(`cannot reach flowkeeper at ${base}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON: print as sent
    }
    throw new Error(`flowkeeper answered ${res.status}: ${message}`);
  }
  const report = JSON.parse(text) as ReplayReport;
  process.stdout.write(args.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.summary['newly-denied'] > 0 ? 1 : 0;
}
