import { readFileSync } from 'node:fs';
import { readFlags } from './flags.js';
import type { ReplayGroup, ReplayReport } from '../policy/replay.js';
import type { Suggestion } from '../policy/run.js';

export const POLICY_USAGE = `Usage: flowkeeper policy replay -f FILE [flags]            (against a running flowkeeper)
       flowkeeper policy suggest -n NAMESPACE [flags] > policies.yaml

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

suggest writes a least-privilege CiliumNetworkPolicy for each workload of the
namespace from the traffic allowed in the range (peers, ports, HTTP requests at
the server, DNS names at egress), then replays the range's flows against it as
proof. The YAML goes to stdout, the proof to stderr. Exit code: 0 when the
proof holds (nothing allowed would be denied), 1 when it does not, 2 on errors.

  -n, --namespace NS    the namespace whose workloads get policies (required)
  --workload NAME       only this workload (repeatable)
  --since T, --until T  range of traffic to learn from (default 24h)
  -o, --output FORMAT   yaml (default) or json (the API's answer, proof included)
  --server, --token     as for replay
`;

interface Server {
  server: string;
  token: string;
}

interface ReplayArgs extends Server {
  files: string[];
  inForce: string | null;
  output: 'table' | 'json';
  params: URLSearchParams;
}

interface SuggestArgs extends Server {
  output: 'yaml' | 'json';
  params: URLSearchParams;
}

const ALIASES: Record<string, string> = { f: 'file', o: 'output' };

function serverFrom(env: NodeJS.ProcessEnv): Server {
  return { server: env.FLOWKEEPER_SERVER ?? 'http://localhost:8080', token: env.FLOWKEEPER_API_TOKEN ?? '' };
}

function outputFormat<T extends string>(value: string, formats: readonly T[]): T {
  if (!formats.includes(value as T)) throw new Error(`--output: "${value}" is not ${formats.join(' or ')}`);
  return value as T;
}

/** The flags both subcommands take: server, token, range, top. */
function commonFlag(out: Server & { params: URLSearchParams }, name: string, value: () => string): boolean {
  if (name === 'server') out.server = value();
  else if (name === 'token') out.token = value();
  else if (name === 'since' || name === 'until' || name === 'top') out.params.set(name, value());
  else return false;
  return true;
}

export function parseReplayArgs(argv: string[], env: NodeJS.ProcessEnv): ReplayArgs {
  const out: ReplayArgs = { files: [], inForce: null, output: 'table', ...serverFrom(env), params: new URLSearchParams() };
  readFlags(argv, ALIASES, out.params, (name, _raw, value) => {
    if (name === 'file') out.files.push(value());
    else if (name === 'in_force') out.inForce = value();
    else if (name === 'output') out.output = outputFormat(value(), ['table', 'json'] as const);
    else return commonFlag(out, name, value);
    return true;
  }, 'policy');
  if (out.files.length === 0) throw new Error('policy replay needs the proposed policies: -f FILE');
  return out;
}

/** Filter flags other than -n/--namespace and --workload reach the API, which refuses them (they would hide traffic from the policies). */
export function parseSuggestArgs(argv: string[], env: NodeJS.ProcessEnv): SuggestArgs {
  const out: SuggestArgs = { output: 'yaml', ...serverFrom(env), params: new URLSearchParams() };
  readFlags(argv, ALIASES, out.params, (name, _raw, value) => {
    if (name === 'output') out.output = outputFormat(value(), ['yaml', 'json'] as const);
    else return commonFlag(out, name, value);
    return true;
  }, 'policy');
  if (!out.params.has('namespace')) throw new Error('policy suggest needs the namespace: -n NAMESPACE');
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

/** Calls the API and returns its JSON answer; errors carry the server's message. */
async function callApi<T>(server: Server, path: string, init: { method: string; body?: string }): Promise<T> {
  const base = server.server.replace(/\/$/, '');
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      ...init, headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(server.token ? { authorization: `Bearer ${server.token}` } : {}) },
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
  return JSON.parse(text) as T;
}

async function runReplay(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseReplayArgs(argv, env);
  const body = JSON.stringify({ policies: args.files.map(readText).join('\n---\n'), ...(args.inForce ? { in_force: readText(args.inForce) } : {}) });
  const report = await callApi<ReplayReport>(args, `/api/v1/policies/replay?${args.params.toString()}`, { method: 'POST', body });
  process.stdout.write(args.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.summary['newly-denied'] > 0 ? 1 : 0;
}

/** What suggest says beside the YAML: the policies, the proof, the warnings. */
export function formatSuggestion(s: Suggestion): string {
  const p = s.proof.summary;
  const lines = [
    `${s.policies.length} ${s.policies.length === 1 ? 'policy' : 'policies'} for namespace ${s.namespace} from traffic between ${s.since} and ${s.until}:`,
    ...s.policies.map((x) => `  ${x.name}: ${x.ingressRules} ingress / ${x.egressRules} egress rules from ${n(x.flows)} flows`),
    `Proof: replayed ${n(s.proof.flows)} flows against them: would newly be denied ${n(p['newly-denied'])}, undecidable ${n(p.undecidable)}, would newly be allowed ${n(p['newly-allowed'])}.`,
    s.proven ? 'PROVEN: nothing that was allowed in the range would be denied.' : 'NOT PROVEN: see the groups below (or run with -o json).',
    ...(s.proven ? [] : [section('WOULD NEWLY BE DENIED', s.proof.newlyDenied, s.proof.omitted.newlyDenied), section('UNDECIDABLE', s.proof.undecidable, s.proof.omitted.undecidable)]),
    ...(s.warnings.length ? ['WARNINGS', ...s.warnings.map((w) => `  ${w}`)] : []),
  ];
  return `${lines.join('\n')}\n`;
}

async function runSuggest(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseSuggestArgs(argv, env);
  const s = await callApi<Suggestion>(args, `/api/v1/policies/suggest?${args.params.toString()}`, { method: 'GET' });
  if (s.policies.length === 0) throw new Error(`no policy to suggest: ${s.warnings.join('; ') || `no pods of namespace ${s.namespace} were seen in the flows of the range`}`);
  if (args.output === 'json') process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
  else {
    process.stdout.write(s.yaml);
    process.stderr.write(formatSuggestion(s));
  }
  return s.proven ? 0 : 1;
}

/** `flowkeeper policy replay|suggest`: returns the exit code. */
export async function runPolicy(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'replay') return runReplay(rest, env);
  if (sub === 'suggest') return runSuggest(rest, env);
  throw new Error(`unknown policy command "${sub ?? ''}" (flowkeeper policy replay -f FILE, or policy suggest -n NAMESPACE; see flowkeeper policy --help)`);
}
