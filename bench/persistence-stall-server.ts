/**
 * The server side of bench/persistence-stall.ts: a KvServer in this process, with
 * perf_hooks.monitorEventLoopDelay watching its event loop. The parent (over IPC)
 * resets the histogram at the start of a phase and asks for it at the end.
 *
 *   (forked by persistence-stall.js) <data-dir> <fsync>
 */
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { defaultConfig, type FsyncPolicy } from '../src/config.js';
import { KvServer } from '../src/server.js';

export type StallRequest = { cmd: 'reset' } | { cmd: 'report' } | { cmd: 'stop' };
export type StallMessage =
  | { type: 'ready'; port: number }
  | { type: 'report'; p50: number; p99: number; max: number; mean: number; count: number }
  | { type: 'stopped' };

const [dataDir = 'data', fsync = 'everysec'] = process.argv.slice(2);
const config = defaultConfig({
  tcpPort: 0,
  udpPort: 0,
  dataDir,
  logDir: path.join(dataDir, '..', 'logs'),
  logOps: false,
  persistence: { enabled: true, fsync: fsync as FsyncPolicy, snapshotIntervalSec: 0, repair: false },
});
const log = pino({ level: 'info' }, pino.destination({ dest: path.join(dataDir, '..', 'server.log'), mkdir: true, sync: false }));
const server = new KvServer(config, log);
const ports = await server.start();
// 1 ms resolution: a stall shows up at its real length, not rounded to the default 10 ms.
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();

const send = (m: StallMessage) => process.send?.(m);
process.on('message', (m: StallRequest) => {
  if (m.cmd === 'reset') delay.reset();
  else if (m.cmd === 'report') {
    const toMs = (ns: number) => ns / 1e6;
    send({ type: 'report', p50: toMs(delay.percentile(50)), p99: toMs(delay.percentile(99)), max: toMs(delay.max), mean: toMs(delay.mean), count: delay.count });
  } else if (m.cmd === 'stop') {
    delay.disable();
    void server.stop().then(() => {
      send({ type: 'stopped' });
      process.exit(0);
    });
  }
});
send({ type: 'ready', port: ports.tcpPort });
