import { Command } from 'commander';
import type { EvidenceStore } from '../evidence/open-store.js';
import { guardConfigScratchRoot } from '../scratch/guard.js';
import { ScratchError } from '../scratch/scratch-dir.js';
import { Daemon } from '../schedule/daemon.js';
import { loadConfigOrExit, loggerFor, openStoreFor, withCommonOptions, type CliJobs, type CommonOptions } from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

/**
 * `restore-drill daemon`: runs the drills on their schedules until SIGTERM or
 * SIGINT (drain, then exit 0); SIGHUP reloads the config. Exit 2 on a config
 * error at start, 1 when the database or the listener cannot be opened.
 */
export function daemonCommand(jobs: CliJobs): Command {
  const command = new Command('daemon')
    .description('Run drills on their cron schedules; serve /healthz and /metrics when daemon.listen is set')
    .addHelpText(
      'after',
      '\nSignals: SIGTERM/SIGINT drain (no new runs; running drills get daemon.drainTimeout, then are aborted and recorded), ' +
        'a second one aborts at once; SIGHUP reloads the config (an invalid file is refused and the old config kept).',
    );
  withCommonOptions(command, { json: false }).action(async (options: CommonOptions) => {
    const loaded = await loadConfigOrExit(options);
    try {
      await guardConfigScratchRoot(loaded.config, loaded.dir);
    } catch (error) {
      if (error instanceof ScratchError) throw new CliError(`${loaded.file} scratch.root: ${error.message}`, ExitCode.Usage);
      throw error;
    }
    const log = loggerFor(options);
    // Signals that come while the store opens are kept for when the daemon is up.
    const early: NodeJS.Signals[] = [];
    const remember = (signal: NodeJS.Signals) => early.push(signal);
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, remember);
    let store: EvidenceStore | undefined;
    let handler: ((signal: NodeJS.Signals) => void) | undefined;
    try {
      store = await openStoreFor(loaded, log);
      let daemon: Daemon;
      try {
        daemon = await Daemon.start({ loaded, store, log, jobs: { drill: jobs.drill, periodic: jobs.periodic ?? [] } });
      } catch (error) {
        throw new CliError(`cannot start the daemon: ${(error as Error).message}`, ExitCode.Failed);
      }
      await new Promise<void>((resolve) => {
        let stops = 0;
        const onSignal = (signal: NodeJS.Signals): void => {
          if (signal === 'SIGHUP') {
            log.info({ signal }, 'reloading the config');
            void daemon.reload();
            return;
          }
          stops++;
          if (stops === 1) {
            log.info({ signal }, 'draining: no new runs; running drills may finish within daemon.drainTimeout');
            daemon.stop(`received ${signal}`).then(resolve, (error: unknown) => {
              log.error({ err: (error as Error).message }, 'error while stopping');
              resolve();
            });
          } else {
            log.warn({ signal }, 'stopping now: running drills are aborted');
            daemon.abortNow(`received ${signal} again while draining`);
          }
        };
        handler = onSignal;
        for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
          process.off(signal, remember);
          process.on(signal, onSignal);
        }
        for (const signal of early.splice(0)) onSignal(signal);
      });
    } finally {
      for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
        process.off(signal, remember);
        if (handler) process.off(signal, handler);
      }
      await store?.close();
    }
    process.exitCode = ExitCode.Ok;
  });
  return command;
}
