import { hostname } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, formatProblem, loadConfig, type LoadedConfig } from '../config/load.js';
import type { DrillJobPayload, RunDrillResult } from '../drill/run-drill.js';
import type { EvidenceStore } from '../evidence/open-store.js';
import type { Logger } from '../log/logger.js';
import { createMetrics } from '../metrics/metrics.js';
import { guardConfigScratchRoot } from '../drill/scratch-guard.js';
import { ScratchError } from '../scratch/scratch-dir.js';
import { VERSION } from '../version.js';
import { createDaemonMetrics, type DaemonMetrics } from './daemon-metrics.js';
import { startDaemonHttp, type DaemonHttp, type Health, type MetricsSource } from './http.js';
import { spoolDirFor } from '../evidence/spool.js';
import type { Job, PeriodicJob } from './job.js';
import { recoverAbandonedRuns, type RecoveredRun } from './recovery.js';
import { createRunLeases, type RunLeases } from './run-leases.js';
import { Scheduler } from './scheduler.js';
import type { ProgressListener } from '../drill/progress.js';

/** The jobs a daemon runs: the drill, and the periodic ones (scratch sweep, stale check…). */
export interface DaemonJobs {
  drill: Job<DrillJobPayload, RunDrillResult>;
  periodic?: readonly PeriodicJob[];
}

export interface StartDaemonOptions {
  loaded: LoadedConfig;
  store: EvidenceStore;
  log: Logger;
  jobs: DaemonJobs;
  /** The /metrics sources beside the daemon's own; default: the drills' metrics from the evidence (src/metrics). */
  metrics?: (config: () => LoadedConfig) => readonly MetricsSource[];
  /** node-cron's lateness tolerance (tests shorten it). */
  missedToleranceMs?: number;
  /** Told how each running drill is getting on (the CLI's status lines in the foreground). */
  onProgress?: ProgressListener | undefined;
}

/** The outcome of the last SIGHUP reload. */
export interface ReloadOutcome {
  at: string;
  ok: boolean;
  /** One line per problem when refused. */
  problems: string[];
  /** Changes that need a restart to apply (database.url, database.path, daemon.listen). */
  notApplied: string[];
}

/**
 * A running daemon: run leases, the recovery of runs dead processes left, the
 * scheduler, and the /healthz and /metrics listener. `reload` re-reads the
 * config file (validated first; an invalid one changes nothing), `stop` drains.
 * The caller owns the evidence store and the process signals.
 */
export class Daemon {
  readonly scheduler: Scheduler;
  readonly leases: RunLeases;
  readonly metrics: DaemonMetrics;
  readonly recovered: readonly RecoveredRun[];
  readonly startedAt: Date;
  #http: DaemonHttp | null = null;
  #lastReload: ReloadOutcome | null = null;
  #stopping: Promise<void> | null = null;
  readonly #store: EvidenceStore;
  readonly #log: Logger;
  /** database.url, database.path and daemon.listen as started: reloads cannot change them. */
  readonly #fixed: { url: string | undefined; path: string | undefined; listen: unknown };

  private constructor(
    options: StartDaemonOptions,
    leases: RunLeases,
    recovered: RecoveredRun[],
    startedAt: Date,
  ) {
    this.#store = options.store;
    this.#log = options.log;
    this.leases = leases;
    this.recovered = recovered;
    this.startedAt = startedAt;
    this.#fixed = {
      url: options.loaded.config.database.url,
      path: options.loaded.config.database.path,
      listen: options.loaded.config.daemon.listen,
    };
    let metrics: DaemonMetrics | undefined;
    this.scheduler = new Scheduler({
      loaded: options.loaded,
      db: options.store.db,
      leases,
      log: options.log,
      drillJob: options.jobs.drill,
      periodicJobs: options.jobs.periodic ?? [],
      onEvent: (event) => metrics?.observe(event),
      onProgress: options.onProgress,
      ...(options.missedToleranceMs === undefined
        ? {}
        : { missedToleranceMs: options.missedToleranceMs }),
    });
    metrics = createDaemonMetrics(() => this.scheduler.status(), startedAt);
    this.metrics = metrics;
  }

  /**
   * Starts a daemon: closes the runs dead processes left (aborted, scratch
   * removed), binds the listener if configured, and schedules. Throws when the
   * listener cannot bind; nothing is left running then.
   */
  static async start(options: StartDaemonOptions): Promise<Daemon> {
    const startedAt = new Date();
    const { loaded, store, log } = options;
    const leases = createRunLeases({
      dialect: store.dialect,
      url: loaded.config.database.url,
      log,
    });
    let daemon: Daemon | undefined;
    try {
      const recovered = await recoverAbandonedRuns({
        db: store.db,
        leases,
        config: loaded.config,
        log,
        spoolDir: spoolDirFor(loaded.config, loaded.dir),
      });
      daemon = new Daemon(options, leases, recovered, startedAt);
      const listen = loaded.config.daemon.listen;
      if (listen) {
        const current = daemon;
        const config = () => current.scheduler.loaded;
        const evidence = options.metrics?.(config) ?? [
          createMetrics({
            db: store.db,
            config: () => config().config,
            log,
            spoolDir: () => spoolDirFor(config().config, config().dir),
          }),
        ];
        const sources = [...evidence, daemon.metrics];
        try {
          daemon.#http = await startDaemonHttp({
            host: listen.host,
            port: listen.port,
            health: () => current.health(),
            metrics: sources,
            log,
          });
        } catch (error) {
          throw new Error(
            `cannot listen on ${listen.host}:${listen.port}: ${(error as Error).message}`,
            { cause: error },
          );
        }
      }
      daemon.scheduler.start();
    } catch (error) {
      await leases.close();
      throw error;
    }
    const status = daemon.scheduler.status();
    log.info(
      {
        config: loaded.file,
        database: store.dialect,
        drills: status.drills.map((drill) => drill.drill),
        recovered: daemon.recovered.length,
        ...(daemon.#http ? { listen: daemon.#http.url } : {}),
      },
      'daemon started',
    );
    return daemon;
  }

  /** Where /healthz and /metrics are served, if anywhere. */
  get url(): string | null {
    return this.#http?.url ?? null;
  }

  get lastReload(): ReloadOutcome | null {
    return this.#lastReload;
  }

  /**
   * Re-reads the config file. Every problem (config errors, a dangerous scratch
   * root) is logged on a line of its own and the old config stays; a valid file
   * reschedules. Running drills finish under the config they started with.
   */
  async reload(): Promise<ReloadOutcome> {
    const file = this.scheduler.loaded.file;
    const at = new Date().toISOString();
    if (this.#stopping)
      return { at, ok: false, problems: ['the daemon is stopping'], notApplied: [] };
    let next: LoadedConfig | null = null;
    const problems: string[] = [];
    try {
      // As at start (loadConfigOrExit): the daemon does not use the web view's section, nor need its secrets.
      next = await loadConfig(file, process.env, { unusedSections: ['serve'] });
      await guardConfigScratchRoot(next.config, next.dir);
    } catch (error) {
      if (error instanceof ConfigError)
        problems.push(...error.problems.map((problem) => formatProblem(error.file, problem)));
      else if (error instanceof ScratchError)
        problems.push(`${file} scratch.root: ${error.message}`);
      else problems.push(`${file}: ${(error as Error).message}`);
    }
    if (problems.length > 0 || next === null) {
      for (const problem of problems) this.#log.error({ config: file }, problem);
      this.#log.error(
        { config: file, problems: problems.length },
        'config reload refused; the daemon keeps running on the previous config',
      );
      this.metrics.reloaded(false);
      this.#lastReload = { at, ok: false, problems, notApplied: [] };
      return this.#lastReload;
    }
    const notApplied: string[] = [];
    if (next.config.database.url !== this.#fixed.url) notApplied.push('database.url');
    if (next.config.database.path !== this.#fixed.path) notApplied.push('database.path');
    if (!isDeepStrictEqual(next.config.daemon.listen, this.#fixed.listen))
      notApplied.push('daemon.listen');
    if (notApplied.length > 0)
      this.#log.warn(
        { config: file, notApplied },
        'these settings changed and take effect only after a restart',
      );
    this.scheduler.reload(next);
    this.metrics.reloaded(true);
    this.#lastReload = { at, ok: true, problems: [], notApplied };
    this.#log.info(
      { config: file, drills: this.scheduler.status().drills.map((drill) => drill.drill) },
      'config reloaded',
    );
    return this.#lastReload;
  }

  /** Drains (see Scheduler.drain) with the config's drain timeout, then closes the listener and the leases. Idempotent. */
  stop(reason: string): Promise<void> {
    this.#stopping ??= (async () => {
      const timeout = this.scheduler.loaded.config.daemon.drainTimeout;
      this.#log.info({ reason }, 'daemon stopping: no new runs');
      await this.scheduler.drain(timeout, reason);
      await this.#http?.close();
      await this.leases.close();
      this.#log.info('daemon stopped');
    })();
    return this.#stopping;
  }

  /** Aborts running drills now (a second SIGTERM during the drain). */
  abortNow(reason: string): void {
    this.scheduler.abortRunning(reason);
  }

  /** The /healthz answer: 200 while scheduling, 503 once draining. */
  health(): Health {
    const status = this.scheduler.status();
    return {
      ok: status.state === 'running',
      body: {
        status: status.state === 'running' ? 'ok' : status.state,
        version: VERSION,
        pid: process.pid,
        host: hostname(),
        startedAt: this.startedAt.toISOString(),
        uptimeSeconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
        configFile: this.scheduler.loaded.file,
        database: this.#store.dialect,
        drillsScheduled: status.drills.length,
        schedules: status.drills,
        jobs: status.jobs,
        concurrency: status.concurrency,
        timezone: status.timezone,
        running: status.running,
        queued: status.queued,
        lastReload: this.#lastReload,
      },
    };
  }
}
