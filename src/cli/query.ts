import WebSocket from 'ws';
import { FILTER_PARAMETERS } from '../query/shorthands.js';
import type { FlowRecord } from '../flows/record.js';
import { compactLine } from './compact.js';

export const QUERY_USAGE = `Usage: flowkeeper query [flags]   (like hubble observe, against a running flowkeeper)

  --server URL          flowkeeper API (default $FLOWKEEPER_SERVER or http://localhost:8080)
  --token TOKEN         bearer token (default $FLOWKEEPER_API_TOKEN)
  --since T, --until T  RFC3339 or relative (15m, 2h)
  --last N              newest N flows (default 20), printed oldest first
  -f, --follow          stream new flows (WebSocket) after the history
  -o, --output FORMAT   compact (default), jsonpb, summary
  --not                 negate the next filter flag
  filters: ${FILTER_PARAMETERS.map((p) => '--' + p.replace(/_/g, '-')).join(' ')}
  -n is --namespace, -t is --type, -l is --label
`;

const ALIASES: Record<string, string> = { n: 'namespace', t: 'type', l: 'label', f: 'follow', o: 'output' };

interface QueryArgs {
  server: string;
  token: string;
  output: 'compact' | 'jsonpb' | 'summary';
  follow: boolean;
  params: URLSearchParams;
}

export function parseQueryArgs(argv: string[], env: NodeJS.ProcessEnv): QueryArgs {
  const out: QueryArgs = { server: env.FLOWKEEPER_SERVER ?? 'http://localhost:8080', token: env.FLOWKEEPER_API_TOKEN ?? '', output: 'compact', follow: false, params: new URLSearchParams() };
  let negate = false;
  let last: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    const name0 = raw.replace(/^--?/, '');
    const name = (ALIASES[name0] ?? name0).replace(/-/g, '_');
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${raw} needs a value`);
      return v;
    };
    if (name === 'not') negate = true;
    else if (name === 'follow') out.follow = true;
    else if (name === 'server') out.server = value();
    else if (name === 'token') out.token = value();
    else if (name === 'output') {
      const o = value();
      if (!['compact', 'jsonpb', 'json', 'summary'].includes(o)) throw new Error(`--output: unknown format "${o}"`);
      out.output = o === 'json' ? 'jsonpb' : (o as QueryArgs['output']);
    } else if (name === 'since' || name === 'until') out.params.set(name, value());
    else if (name === 'last') last = value();
    else if (FILTER_PARAMETERS.includes(name)) {
      out.params.append(negate ? `not_${name}` : name, value());
      negate = false;
    } else throw new Error(`unknown flag ${raw} (see flowkeeper query --help)`);
  }
  if (!out.params.has('since')) out.params.set('limit', last ?? '20');
  else if (last) out.params.set('limit', last);
  return out;
}

function print(flow: FlowRecord, output: QueryArgs['output'], summary?: unknown): void {
  if (output === 'jsonpb') process.stdout.write(JSON.stringify({ flow, node_name: flow.node_name, time: flow.time }) + '\n');
  else if (output === 'summary') process.stdout.write(JSON.stringify(summary ?? flow) + '\n');
  else process.stdout.write(compactLine(flow) + '\n');
}

/** `flowkeeper query`: history from /api/v1/flows (oldest first), then optionally the live stream. */
export async function runQuery(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const args = parseQueryArgs(argv, env);
  const headers: Record<string, string> = args.token ? { authorization: `Bearer ${args.token}` } : {};
  const base = args.server.replace(/\/$/, '');
  const history = new URLSearchParams(args.params);
  history.set('order', args.params.has('since') ? 'asc' : 'desc');
  let res: Response;
  try {
    res = await fetch(`${base}/api/v1/flows?${history.toString()}`, { headers });
  } catch (err) {
    throw new Error(`cannot reach flowkeeper at ${base}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`flowkeeper answered ${res.status}: ${text}`);
  let flows = text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { flow: FlowRecord }).flow);
  if (!args.params.has('since')) flows = flows.reverse();
  for (const f of flows) print(f, args.output);
  if (!args.follow) return;
  const live = new URLSearchParams(args.params);
  live.delete('limit');
  live.delete('since');
  live.delete('until');
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/v1/flows/stream?${live.toString()}`, { headers });
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (m) => {
      const frame = JSON.parse(m.toString()) as { type: string; count?: number; flow?: FlowRecord };
      if (frame.type === 'flow' && frame.flow) print(frame.flow, args.output);
      else if (frame.type === 'lost') process.stderr.write(`flowkeeper: ${frame.count} flows lost (output too slow)\n`);
    });
    ws.on('unexpected-response', (_req, r) => reject(new Error(`live stream refused: HTTP ${r.statusCode}`)));
    ws.on('error', reject);
    ws.on('close', () => resolve());
  });
}
