#!/usr/bin/env node
import { helpText, loadConfig } from './config/load.js';
import type { Command } from './config/options.js';
import { startApp, VERSION } from './app.js';
import { createLogger } from './log.js';
import { SimRelay } from './sim/relay-server.js';
import { FlowkeeperError } from './errors.js';
import { QUERY_USAGE, runQuery } from './cli/query.js';
import { POLICY_USAGE, runPolicy } from './cli/policy.js';

const USAGE = `flowkeeper ${VERSION} — flow history for Cilium Hubble

Usage:
  flowkeeper serve [options]   follow hubble-relay, store flows, serve the API and /metrics
  flowkeeper demo [options]    start a built-in relay simulator and a flowkeeper consuming it
  flowkeeper sim [options]     run only the relay simulator (a stand-in hubble-relay)
  flowkeeper query [flags]     print stored/live flows from a running flowkeeper, like hubble observe
  flowkeeper policy replay -f FILE [flags]
                               replay stored flows against proposed network policies: what would break?
  flowkeeper policy suggest -n NAMESPACE [flags]
                               least-privilege policies from the traffic seen, proved by replay
  flowkeeper --help | --version

Every option can also be set with its environment variable.
Options:
`;

const COMMAND_USAGE: Record<Command, string> = {
  serve: `flowkeeper serve [options]\n\nFollows hubble-relay (--relay), stores every flow, serves the REST/WebSocket API and /metrics.`,
  demo: `flowkeeper demo [options]\n\nStarts the built-in relay simulator and a flowkeeper following it, with the API and /metrics up.`,
  sim: `flowkeeper sim [options]\n\nRuns only the relay simulator: a stand-in hubble-relay serving observer.Observer with realistic traffic.`,
};

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE + helpText() + '\n');
    return;
  }
  if (command === '--version') {
    process.stdout.write(VERSION + '\n');
    return;
  }
  if (command === 'query') {
    if (rest.includes('--help') || rest.includes('-h')) process.stdout.write(QUERY_USAGE);
    else await runQuery(rest, process.env);
    return;
  }
  if (command === 'policy') {
    if (rest.length === 0 || rest.includes('--help') || rest.includes('-h')) process.stdout.write(POLICY_USAGE);
    else process.exitCode = await runPolicy(rest, process.env);
    return;
  }
  if (!['serve', 'demo', 'sim'].includes(command)) throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `unknown command "${command}" (see flowkeeper --help)`);
  const cmd = command as Command;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${COMMAND_USAGE[cmd]}\n\nEvery option can also be set with its environment variable.\nOptions:\n${helpText(cmd)}\n`);
    return;
  }
  const config = loadConfig(rest, process.env, cmd);
  const log = createLogger(config.logLevel);
  const stops: (() => Promise<void>)[] = [];
  if (command === 'demo' || command === 'sim') {
    const sim = new SimRelay();
    const port = await sim.listen(config.simListen);
    sim.startTraffic(config.simRate);
    const host = config.simListen.slice(0, config.simListen.lastIndexOf(':'));
    log.info({ address: `${host}:${port}`, flowsPerSecond: config.simRate }, 'relay simulator serving observer.Observer');
    stops.push(() => sim.close());
    if (command === 'demo') config.relay = [`demo=${host}:${port}`];
  }
  if (command === 'serve' || command === 'demo') {
    const app = await startApp(config, log);
    stops.unshift(() => app.stop());
    app.pipeline.once('fatal', (err: Error) => {
      log.fatal({ err }, 'the writer stopped; exiting so the service can be restarted');
      process.exit(1);
    });
    if (command === 'demo') {
      process.stderr.write(`\nflowkeeper demo is running: API ${app.url}/api/v1/status   (Ctrl-C to stop)\n\n`);
    }
  }
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    (async () => {
      for (const stop of stops) await stop();
      process.exit(0);
    })().catch((err: Error) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main(process.argv.slice(2)).catch((err: Error & { code?: string }) => {
  process.stderr.write(`flowkeeper: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
  process.exit(2);
});
