import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, killAndWait, tempDir } from './harness.js';

/**
 * A real ZooKeeper for the replicated ClickHouse tests: Debian's package
 * (zookeeper, a Java server), standalone on a loopback port in a temporary
 * directory. CI installs it (.ci/run) and the tests then require it; on a
 * machine without it they are skipped, saying so.
 */

const JAR = '/usr/share/java/zookeeper.jar';
const available = existsSync(JAR) && spawnSync('sh', ['-c', 'command -v java']).status === 0;
if (!available && process.env.CI) throw new Error(`ZooKeeper is required in CI (.ci/run installs Debian package zookeeper: ${JAR} and java)`);

/** `skip` for node:test: false when ZooKeeper can be started here, else why not. */
export const zookeeperSkip: string | false = available ? false : `ZooKeeper not found (${JAR} and java): install Debian package "zookeeper" to run the replicated ClickHouse tests`;

export interface ZooKeeperServer {
  port: number;
  /** Kills it and removes its files. */
  stop: () => Promise<void>;
}

const START_TIMEOUT_MS = 30_000;

/** Whether the server answers ZooKeeper's "ruok" with "imok". */
function imok(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('connect', () => socket.write('ruok'));
    socket.on('data', (d) => {
      answer += d.toString();
    });
    socket.on('close', () => resolve(answer === 'imok'));
    socket.on('error', () => undefined);
  });
}

/** Starts a standalone ZooKeeper and waits until it answers; `stop` kills it and removes its files, whatever happened. */
export async function startZooKeeper(): Promise<ZooKeeperServer> {
  if (!available) throw new Error(zookeeperSkip as string);
  const { dir, cleanup } = tempDir('flowkeeper-zk-');
  let child: ChildProcess | null = null;
  const stop = async (): Promise<void> => {
    await killAndWait(child);
    cleanup();
  };
  try {
    const port = await freePort();
    writeFileSync(join(dir, 'zoo.cfg'), [
      'tickTime=500', `dataDir=${dir}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1', 'admin.enableServer=false', '4lw.commands.whitelist=ruok', '',
    ].join('\n'));
    const proc = spawn('java', ['-Xmx256m', '-cp', JAR, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', join(dir, 'zoo.cfg')], { stdio: 'ignore', cwd: dir });
    child = proc;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await imok(port))) {
      if (proc.exitCode !== null) throw new Error(`ZooKeeper exited (${proc.exitCode}) at start`);
      if (Date.now() > deadline) throw new Error(`ZooKeeper did not answer within ${START_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return { port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
