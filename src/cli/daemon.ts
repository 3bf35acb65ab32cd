import { Command } from 'commander';
import type { EvidenceStore } from '../evidence/open-store.js';
import type { Logger } from '../log/logger.js';
import { heartbeatPeriodic, staleCheckPeriodic } from '../schedule/alert-jobs.js';
import { Daemon } from '../schedule/daemon.js';
import {
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  withCommonOptions,
  type CliJobs,
  type CommonOptions,
} from './context.js';
import { keepWorkingWhenOutputCloses } from './closed-output.js';
import { CliError, ExitCode } from './exit-codes.js';
import { createProgressReporter } from './progress-display.js';

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * `restore-drill daemon`: runs the drills on their schedules until SIGTERM or
 * SIGINT (drain, then exit 0); SIGHUP reloads the config. Exit 2 on a config
 * error at start, 1 when the database or the listener cannot be opened.
 */
export function daemonCommand(jobs: CliJobs): Command {
  const command = new Command('daemon')
    .description(
      'Run drills on their cron schedules; serve /healthz and /metrics when daemon.listen is set',
    )
    .addHelpText(
      'after',
      '\nSignals: SIGTERM/SIGINT drain (no new runs; running drills get daemon.drainTimeout, then are aborted and recorded), ' +
        'a second one aborts at once; SIGHUP reloads the config (an invalid file is refused and the old config kept).',
    );
  withCommonOptions(command, { json: false }).action(async (options: CommonOptions) => {
    keepWorkingWhenOutputCloses();
    const loaded = await loadConfigOrExit(options, { scratch: true });
    const log = loggerFor(options);
    // One listener per signal for the whole life of the command: swapping listeners
    // lets Node drop a signal that arrived in between. Until the daemon is up, signals wait.
    const signals = new SignalHandler(log);
    for (const signal of SIGNALS) process.on(signal, signals.handle);
    let store: EvidenceStore | undefined;
    // In the foreground on a terminal, a status line per running drill; elsewhere, progress log events.
    const progress = createProgressReporter({ logFormat: options.logFormat, log });
    try {
      store = await openStoreFor(loaded, log);
      let daemon: Daemon;
      try {
        const periodic = [
          ...(jobs.periodic ?? []),
          staleCheckPeriodic(jobs.staleCheck, new Date()),
          heartbeatPeriodic(jobs.heartbeat),
        ];
        daemon = await Daemon.start({
          loaded,
          store,
          log,
          jobs: { drill: jobs.drill, periodic },
          onProgress: progress.listener,
        });
      } catch (error) {
        throw new CliError(`cannot start the daemon: ${(error as Error).message}`, ExitCode.Failed);
      }
      await signals.serve(daemon);
    } finally {
      progress.stop();
      for (const signal of SIGNALS) process.off(signal, signals.handle);
      await store?.close();
    }
    process.exitCode = ExitCode.Ok;
  });
  return command;
}

/** SIGTERM/SIGINT: drain, a second one aborts; SIGHUP: reload. Signals before the daemon is up are replayed once it is. */
class SignalHandler {
  readonly #log: Logger;
  readonly #early: NodeJS.Signals[] = [];
  #daemon: Daemon | undefined;
  #stops = 0;
  #stopped: (() => void) | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  readonly handle = (signal: NodeJS.Signals): void => {
    const daemon = this.#daemon;
    if (!daemon) {
      this.#early.push(signal);
      return;
    }
    if (signal === 'SIGHUP') {
      this.#log.info({ signal }, 'reloading the config');
      void daemon.reload();
      return;
    }
    this.#stops++;
    if (this.#stops === 1) {
      this.#log.info(
        { signal },
        'draining: no new runs; running drills may finish within daemon.drainTimeout',
      );
      daemon.stop(`received ${signal}`).then(
        () => this.#stopped?.(),
        (error: unknown) => {
          this.#log.error({ err: (error as Error).message }, 'error while stopping');
          this.#stopped?.();
        },
      );
    } else {
      this.#log.warn({ signal }, 'stopping now: running drills are aborted');
      daemon.abortNow(`received ${signal} again while draining`);
    }
  };

  /** Handles signals for `daemon` until it has stopped. */
  serve(daemon: Daemon): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#stopped = resolve;
      this.#daemon = daemon;
      for (const signal of this.#early.splice(0)) this.handle(signal);
    });
  }
}
