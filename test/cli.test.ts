import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { ROOT_DIR } from '../src/paths.js';
import { ALL_TIME, populatedApp } from './helpers/populated.js';
import { compactLine } from '../src/cli/compact.js';
import { parseQueryArgs } from '../src/cli/query.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');
const execFileAsync = promisify(execFile);
const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });

test('flowkeeper --help lists commands and every option; bad input fails early with a message', () => {
  const help = run('--help');
  assert.equal(help.status, 0);
  for (const word of ['serve', 'demo', 'sim', 'query', '--relay', '--retention-size', 'FLOWKEEPER_API_TOKEN']) assert.ok(help.stdout.includes(word), word);
  const bad = run('serve', '--retention', 'forever');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--retention: "forever" is not a duration/);
  const unknown = run('explode');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "explode"/);
});

test('flowkeeper query prints hubble-observe-like lines from a running server', async () => {
  const env = await populatedApp(500);
  try {
    // Asynchronous child processes: the server runs in this process.
    const compact = await execFileAsync(process.execPath, [CLI, 'query', '--server', env.app.url, '--verdict', 'DROPPED', '--type', 'policy-verdict', '--since', ALL_TIME.since, '--last', '5']);
    const lines = compact.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    for (const l of lines) assert.match(l, /^\w{3} \d{2} \d{2}:\d{2}:\d{2}\.\d{3}: .+ -> .+ policy-verdict:.+ DROPPED \(POLICY_DEN(Y|IED)\)/);
    const json = (await execFileAsync(process.execPath, [CLI, 'query', '--server', env.app.url, '-n', 'payments', '-o', 'jsonpb', '--last', '3'])).stdout;
    const flows = json.trim().split('\n').map((l) => JSON.parse(l) as { flow: { source?: { namespace?: string }; destination?: { namespace?: string } } });
    assert.equal(flows.length, 3);
    for (const f of flows) assert.ok(f.flow.source?.namespace === 'payments' || f.flow.destination?.namespace === 'payments');
  } finally {
    await env.stop();
  }
});

test('compact output escapes control characters a flow could carry (terminal injection)', () => {
  const flow = {
    time: '2026-01-02T03:04:05.678Z', verdict: 'FORWARDED', Summary: 'GET http://x/\u001b[2J\u001b]0;owned\u0007\r\nfake line',
    source_names: ['evil\u009b31m.example'], IP: { source: '10.0.0.1', destination: '10.0.0.2' },
  };
  const line = compactLine(flow);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/);
  assert.match(line, /\\x1b\[2J/);
  assert.match(line, /evil\\x9b31m\.example/);
});

test('each command has its own help and refuses options that do not apply to it', () => {
  const serve = run('serve', '--help');
  assert.equal(serve.status, 0);
  assert.match(serve.stdout, /^flowkeeper serve \[options\]/);
  assert.ok(serve.stdout.includes('--relay-tls-ca') && !serve.stdout.includes('--sim-rate'));
  const sim = run('sim', '--help');
  assert.match(sim.stdout, /^flowkeeper sim \[options\]/);
  assert.ok(sim.stdout.includes('--sim-rate') && !sim.stdout.includes('--db ') && !sim.stdout.includes('--retention'));
  const demo = run('demo', '--help');
  assert.ok(demo.stdout.includes('--sim-rate') && demo.stdout.includes('--api-token') && !demo.stdout.includes('--relay '));
  const ignored = run('demo', '--relay', 'x:4245');
  assert.equal(ignored.status, 2);
  assert.match(ignored.stderr, /--relay does not apply to flowkeeper demo/);
  assert.match(run('sim', '--db', 'x.db').stderr, /--db does not apply to flowkeeper sim/);
});

test('flowkeeper query follows hubble observe: --since alone prints the whole range, --last/--first pick the newest/oldest, cuts are said on stderr', async () => {
  const env = await populatedApp(3000);
  try {
    const q = async (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
      execFileAsync(process.execPath, [CLI, 'query', '--server', env.app.url, ...args], { maxBuffer: 64 * 1024 * 1024 });
    const tcp = env.records.filter((f) => (f.l4 as { TCP?: unknown } | undefined)?.TCP !== undefined);
    const times = (out: string): string[] => out.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { time: string }).time);
    const range = await q('--protocol', 'tcp', '--since', ALL_TIME.since, '-o', 'jsonpb');
    assert.equal(times(range.stdout).length, tcp.length, '--since alone: every flow of the range, past one page');
    assert.ok(tcp.length > 100);
    assert.equal(range.stderr, '');
    const last = await q('--protocol', 'tcp', '--since', ALL_TIME.since, '--last', '5', '-o', 'jsonpb');
    assert.deepEqual(times(last.stdout), tcp.slice(-5).map((f) => f.time), 'the newest 5, oldest first');
    assert.match(last.stderr, /printed the newest 5 matching flows; more match/);
    const first = await q('--protocol', 'tcp', '--first', '3', '--since', ALL_TIME.since, '-o', 'jsonpb');
    assert.deepEqual(times(first.stdout), tcp.slice(0, 3).map((f) => f.time));
    await assert.rejects(q('--first', '3', '-f'), /--first cannot be combined with --follow/);
    await assert.rejects(q('--last', '3', '--all'), /exclude each other/);
    const summary = await q('--verdict', 'DROPPED', '--last', '4', '-o', 'summary');
    const rows = summary.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rows.length, 4);
    for (const r of rows) {
      assert.equal(r.verdict, 'DROPPED');
      assert.ok(['drop', 'policy-verdict'].includes(String(r.event)), 'summary tells the event kind');
      assert.equal(r.IP, undefined, 'a summary, not the full flow');
    }
  } finally {
    await env.stop();
  }
});

test('flowkeeper query takes hubble observe\'s boolean filter flags and --not as the CLI does', () => {
  const args = parseQueryArgs(['-A', '--pod', 'coredns', '--not', '--unencrypted', '--to-namespace', 'shop', '--since', '1h'], {});
  assert.deepEqual([...args.params.entries()], [
    ['all_namespaces', 'true'], ['pod', 'coredns'], ['not_encrypted', 'false'], ['to_namespace', 'shop'], ['since', '1h'],
  ]);
  assert.throws(() => parseQueryArgs(['--pod'], {}), /--pod needs a value/);
});
