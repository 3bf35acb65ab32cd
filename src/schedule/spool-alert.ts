import { mkdir, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { reasonOf } from '../evidence/errors.js';
import { listSpool, readSpoolEntry, spoolDirFor } from '../evidence/spool.js';
import type { Logger } from '../log/logger.js';
import { toAlertDrill } from './alerting.js';
import type { AlertChannel, DeliveryResult } from '../alerts/channel.js';
import { buildSpooledAlert } from '../alerts/message.js';

/** The folder inside the spool where each (run, channel) alert already sent leaves a claim file. */
const ALERTED_DIR = 'alerted';

export interface SpoolAlertOptions {
  loaded: { config: Config; file: string; dir: string };
  channels: ReadonlyMap<string, AlertChannel>;
  log: Logger;
  /** The clock (tests move it). */
  now?: () => Date;
  signal?: AbortSignal | undefined;
}

/** One alert sent about a spooled run, and what the channel answered. */
export interface SpoolAlertSent {
  runId: string;
  channel: string;
  result: DeliveryResult;
}

/**
 * Alerts, through every configured channel, about each result that has waited
 * in the spool longer than `spool.alertAfter`. The store is usually what is
 * down, so the alert log (in the store) cannot deduplicate: a claim file per
 * run and channel in the spool folder, created exclusively before the send,
 * makes each alert go out once across processes sharing the spool. A transient
 * failure drops the claim, so the next call retries; claims of runs no longer
 * spooled are removed.
 */
export async function alertLongSpooledRuns(options: SpoolAlertOptions): Promise<SpoolAlertSent[]> {
  const { config } = options.loaded;
  const dir = spoolDirFor(config, options.loaded.dir);
  const { runs } = await listSpool(dir);
  const claims = path.join(dir, ALERTED_DIR);
  await removeStaleClaims(claims, new Set(runs.map((run) => run.runId)));
  if (!config.alerts || options.channels.size === 0) return [];
  const now = options.now?.() ?? new Date();
  const drills = new Map(config.drills.map((drill) => [drill.name, drill]));
  const sent: SpoolAlertSent[] = [];
  for (const run of runs) {
    if (now.getTime() - Date.parse(run.spooledAt) <= config.spool.alertAfter) continue;
    const read = await readSpoolEntry(run.file);
    // Replayed by another process meanwhile.
    if ('problem' in read) continue;
    const drill = drills.get(run.drill);
    const message = buildSpooledAlert({
      drill: drill ? toAlertDrill(drill) : { name: run.drill, tags: [] },
      configFile: path.resolve(options.loaded.file),
      now,
      run: read.entry.record,
      spoolFile: run.file,
      spooledAt: run.spooledAt,
      reason: read.entry.reason,
    });
    for (const channel of options.channels.values()) {
      const claim = path.join(claims, `${run.runId}.${channel.name}`);
      if (!(await claimOnce(claims, claim))) continue;
      const result = await channel.send(message, { signal: options.signal });
      sent.push({ runId: run.runId, channel: channel.name, result });
      const fields = { runId: run.runId, drill: run.drill, channel: channel.name };
      if (result.ok) options.log.warn(fields, message.title);
      else {
        if (!result.permanent) await rm(claim, { force: true });
        options.log.error(
          { ...fields, err: result.error, permanent: result.permanent },
          'spool alert not delivered',
        );
      }
    }
  }
  return sent;
}

/** Creates the claim file; false when it exists (this alert was sent, or is being sent). */
async function claimOnce(folder: string, claim: string): Promise<boolean> {
  await mkdir(folder, { recursive: true });
  try {
    await (await open(claim, 'wx', 0o600)).close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot write the spool alert claim ${claim}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
}

async function removeStaleClaims(folder: string, spooled: ReadonlySet<string>): Promise<void> {
  const names = await readdir(folder).catch(() => []);
  for (const name of names) {
    const runId = name.slice(0, name.indexOf('.'));
    if (!spooled.has(runId)) await rm(path.join(folder, name), { force: true });
  }
}
