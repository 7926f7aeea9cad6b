#!/usr/bin/env node
import { hideBin } from 'yargs/helpers';
import { buildConfig, rejectRepeatedFlags, serverArgs } from './config.js';
import { KvError } from './errors.js';
import { createRootLogger } from './logger.js';
import { KvServer } from './server.js';

/** kv-server: parse flags, start, and stop cleanly on SIGINT/SIGTERM. */
async function main(): Promise<number> {
  let config;
  try {
    const argv = hideBin(process.argv);
    rejectRepeatedFlags(argv);
    config = buildConfig(await serverArgs(argv).parse());
  } catch (err) {
    process.stderr.write(`kv-server: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const root = await createRootLogger(config);
  const log = root.log;
  log.info({ config }, 'starting');
  const server = new KvServer(config, log, { logStats: root.stats });
  try {
    const ports = await server.start();
    log.info({ host: config.host, tcpPort: ports.tcpPort, udpPort: ports.udpPort, udpIo: server.udp?.ioKind }, 'listening');
  } catch (err) {
    // Our own errors (bad config, corrupt data files, a locked data dir) already say what to do.
    const message = err instanceof KvError ? err.message : `could not start: ${(err as Error).message}`;
    log.fatal({ err }, message);
    await server.stop().catch(() => undefined);
    await root.close();
    process.stderr.write(`kv-server: ${message}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        log.warn({ signal }, 'second signal: exiting now');
        void root.close().finally(() => process.exit(1));
        return;
      }
      signalled = true;
      log.info({ signal }, 'stopping');
      const started = Date.now();
      server
        .stop()
        .then(
          () => {
            log.info({ ms: Date.now() - started }, 'stopped');
            return 0;
          },
          (err: unknown) => {
            log.error({ err }, 'stop failed');
            return 1;
          },
        )
        .then(async (code) => {
          await root.close();
          resolve(code);
        });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('uncaughtException', (err) => {
      log.fatal({ err }, 'uncaught exception; exiting');
      void root.close().finally(() => process.exit(1));
    });
  });
}

process.exitCode = await main();
