import { FlowkeeperError } from '../errors.js';
import { OPTIONS, bool, commandsOf } from './options.js';
import type { Command, Config, OptionName } from './options.js';

export function envName(flag: string): string {
  return 'FLOWKEEPER_' + flag.toUpperCase().replace(/-/g, '_');
}

/**
 * Builds the configuration: defaults, then FLOWKEEPER_* environment variables,
 * then --flags (last wins). Unknown flags and bad values fail early with the
 * option named.
 */
export function loadConfig(args: string[], env: NodeJS.ProcessEnv = process.env, command?: Command): Config {
  const byFlag = new Map<string, OptionName>();
  for (const [name, spec] of Object.entries(OPTIONS)) byFlag.set(spec.flag, name as OptionName);
  const raw = new Map<OptionName, { text: string; from: string }>();
  for (const [name, spec] of Object.entries(OPTIONS) as [OptionName, (typeof OPTIONS)[OptionName]][]) {
    raw.set(name, { text: spec.default, from: 'default' });
    const fromEnv = env[envName(spec.flag)];
    if (fromEnv !== undefined) raw.set(name, { text: fromEnv, from: envName(spec.flag) });
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq > 0 ? eq : undefined);
    const name = byFlag.get(flag);
    if (!name) throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `unknown option --${flag} (see flowkeeper ${command ?? ''} --help)`.replace('  ', ' '));
    if (command && !commandsOf(OPTIONS[name]).includes(command)) {
      const why = command === 'demo' && flag.startsWith('relay') ? ' (the demo follows its built-in simulator; use flowkeeper serve for a real relay)' : '';
      throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--${flag} does not apply to flowkeeper ${command}${why} (see flowkeeper ${command} --help)`, flag);
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else if ((OPTIONS[name].parse as unknown) === bool && (args[i + 1] === undefined || args[i + 1].startsWith('--'))) value = 'true';
    else {
      if (args[i + 1] === undefined) throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--${flag} needs a value`);
      value = args[++i];
    }
    raw.set(name, { text: value, from: `--${flag}` });
  }
  const config: Record<string, unknown> = {};
  for (const [name, { text, from }] of raw) {
    try {
      config[name] = OPTIONS[name].parse(text);
    } catch (err) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `${from}: ${(err as Error).message}`, OPTIONS[name].flag);
    }
  }
  return config as Config;
}

export function helpText(command?: Command): string {
  const rows = Object.values(OPTIONS)
    .filter((o) => !command || commandsOf(o).includes(command))
    .map((o) => `  --${o.flag.padEnd(24)} ${o.description}\n  ${''.padEnd(26)} env ${envName(o.flag)}, default "${o.default}"`);
  return rows.join('\n');
}
