#!/usr/bin/env node
import { hideBin } from 'yargs/helpers';
import { hashPassword } from './auth/secrets.js';
import { configForLog } from './config.js';
import { buildConfig, rejectRepeatedFlags, serverArgs } from './server-flags.js';
import { ConfigError, KvError } from './errors.js';
import { createRootLogger } from './logger.js';
import { KvServer, type StopReport } from './server.js';
import type { StopOptions } from './stop-options.js';

/** kv-server's exit codes (README, "Exit codes"). */
const ExitCode = {
  OK: 0,
  /** Could not start on the data (corrupt, locked, unreadable), an uncaught exception, or a second signal. */
  FAILED: 1,
  /** A bad flag or setting, including a data directory that cannot be used. */
  CONFIG: 2,
  /** Stopped, but acknowledged writes are not on disk: the error line says how many and why. */
  WRITES_NOT_ON_DISK: 3,
  /** Stopped with every acknowledged write on disk, but the stop was incomplete (e.g. no final snapshot). */
  STOP_INCOMPLETE: 4,
} as const;

/**
 * After --shutdown-timeout, this long for the last log lines before the process exits
 * whatever is still running (a disk that hangs, say).
 */
const SHUTDOWN_GRACE_MS = 1000;

function exitCodeOf(report: StopReport): number {
  if (report.writesNotOnDisk > 0) return ExitCode.WRITES_NOT_ON_DISK;
  return report.problems.length > 0 ? ExitCode.STOP_INCOMPLETE : ExitCode.OK;
}

/**
 * `kv-server --hash-password`: reads a password from stdin (never from the command line,
 * where ps would show it) and prints its salted hash for a users file.
 */
async function printPasswordHash(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') {
    process.stderr.write('kv-server: --hash-password reads the password from stdin, and got none (echo -n "$PASSWORD" | kv-server --hash-password)\n');
    return ExitCode.CONFIG;
  }
  process.stdout.write(`${hashPassword(password)}\n`);
  return ExitCode.OK;
}

/** kv-server: parse flags, start, and stop cleanly on SIGINT/SIGTERM. */
async function main(): Promise<number> {
  let config;
  try {
    const argv = hideBin(process.argv);
    if (argv.length === 1 && argv[0] === '--hash-password') return await printPasswordHash();
    rejectRepeatedFlags(argv);
    config = buildConfig(await serverArgs(argv).parse());
  } catch (err) {
    process.stderr.write(`kv-server: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.CONFIG;
  }
  const root = await createRootLogger(config);
  const log = root.log;
  log.info({ config: configForLog(config) }, 'starting');
  const server = new KvServer(config, log, { logStats: root.stats, logBacklogBytes: root.backlogBytes });
  try {
    const ports = await server.start();
    log.info(
      {
        host: config.host,
        tcpPort: ports.tcpPort,
        udpPort: ports.udpPort,
        ...(config.httpPort !== null ? { httpPort: server.httpPort } : {}),
        ...(config.tls?.port != null ? { tlsPort: server.tlsPort } : {}),
        ...(config.tls?.httpsPort != null ? { httpsPort: server.httpsPort } : {}),
        udpIo: server.udp?.ioKind,
      },
      'listening',
    );
  } catch (err) {
    // Our own errors (bad config, corrupt data files, a locked data dir) already say what to do.
    const message = err instanceof KvError ? err.message : `could not start: ${(err as Error).message}`;
    log.fatal({ err }, message);
    await server.stop();
    await root.close();
    process.stderr.write(`kv-server: ${message}\n`);
    return err instanceof ConfigError ? ExitCode.CONFIG : ExitCode.FAILED;
  }

  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals | 'SHUTDOWN', options: StopOptions = {}) => {
      if (signalled) {
        log.warn({ signal }, 'second signal: exiting now');
        void root.close().finally(() => process.exit(ExitCode.FAILED));
        return;
      }
      signalled = true;
      log.info({ signal, finalSnapshot: options.finalSnapshot ?? 'default' }, 'stopping');
      const started = Date.now();
      let code: number | null = null;
      // Ref'd: a paused socket keeps nothing alive, and without this the event loop could
      // empty mid-stop (Node then exits 13 with nothing flushed). It also bounds the stop.
      const backstop = setTimeout(() => {
        if (code === null) {
          const writesNotOnDisk = server.writesNotOnDisk;
          code = writesNotOnDisk > 0 ? ExitCode.WRITES_NOT_ON_DISK : ExitCode.STOP_INCOMPLETE;
          log.error({ ms: Date.now() - started, writesNotOnDisk, exitCode: code }, 'shutdown did not finish within --shutdown-timeout; exiting');
          process.stderr.write(`kv-server: shutdown did not finish within --shutdown-timeout; ${writesNotOnDisk} acknowledged writes are not on disk\n`);
        }
        process.exit(code);
      }, config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS);
      void server.stop(options).then(async (report) => {
        code = exitCodeOf(report);
        const fields = { ms: Date.now() - started, exitCode: code, writesNotOnDisk: report.writesNotOnDisk };
        if (code === ExitCode.OK) {
          log.info(fields, 'stopped');
        } else {
          log.error({ ...fields, problems: report.problems }, 'stopped');
          const lost = report.writesNotOnDisk > 0 ? `${report.writesNotOnDisk} acknowledged writes are not on disk` : 'every acknowledged write is on disk';
          process.stderr.write(`kv-server: stopped with errors (exit ${code}): ${lost}; ${report.problems.join('; ')}\n`);
        }
        await root.close();
        clearTimeout(backstop);
        resolve(code);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // SIGHUP rereads what may change under a running server: the users file, the TLS certificates.
    process.on('SIGHUP', () => server.reload());
    // SHUTDOWN from a client stops the server the same way; a second one changes nothing.
    server.onShutdownRequest((_reason, options) => {
      if (!signalled) onSignal('SHUTDOWN', options);
    });
    process.on('uncaughtException', (err) => {
      log.fatal({ err }, 'uncaught exception; exiting');
      void root.close().finally(() => process.exit(ExitCode.FAILED));
    });
  });
}

const code = await main();
process.exitCode = code;
// The process ends once nothing is left running. Should something linger (a handle
// nobody closed), it must not hold the exit up for ever.
setTimeout(() => {
  process.stderr.write('kv-server: something was still running after the stop; exiting anyway\n');
  process.exit(code);
}, SHUTDOWN_GRACE_MS).unref();
