import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';

const DRILLS = 'drills:\n  - name: files\n    source: { kind: directory, path: /backups/* }\n';

function problems(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml', {}, '/cfg');
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n');
    throw error;
  }
  return [];
}

describe('the daemon: block of the config', () => {
  it('has defaults for everything but the listener', () => {
    const { config } = parseConfig(DRILLS, 'c.yaml', {}, '/cfg');
    expect(config.daemon).toEqual({
      concurrency: 1,
      drainTimeout: 60_000,
      scratchMargin: 1.5,
      scratchSweep: { schedule: '17 * * * *' },
      staleCheck: { schedule: '*/5 * * * *' },
    });
    // Without olderThan the sweep keeps folders for scratch.keepFor.
    expect(config.scratch.keepFor).toBe(3 * 86_400_000);
  });

  it('reads every key, with the listener on loopback unless told otherwise', () => {
    const text = `daemon:\n  timezone: Europe/Berlin\n  concurrency: 3\n  listen: { port: 9464 }\n  drainTimeout: 15m\n  scratchMargin: 2\n  scratchSweep: { schedule: "0 * * * *", olderThan: 1d }\n  staleCheck: { schedule: "*/15 * * * *" }\n${DRILLS}`;
    expect(parseConfig(text, 'c.yaml', {}, '/cfg').config.daemon).toEqual({
      timezone: 'Europe/Berlin',
      concurrency: 3,
      listen: { host: '127.0.0.1', port: 9464 },
      drainTimeout: 900_000,
      scratchMargin: 2,
      scratchSweep: { schedule: '0 * * * *', olderThan: 86_400_000 },
      staleCheck: { schedule: '*/15 * * * *' },
    });
  });

  it('names every bad daemon setting with its line', () => {
    const text = `daemon:\n  timezone: Mars/Olympus\n  concurrency: 0\n  listen: { host: 0.0.0.0, port: 70000 }\n  drainTimeout: soon\n  scratchMargin: 0.5\n  scratchSweep: { schedule: hourly }\n  workers: 2\n${DRILLS}`;
    expect(problems(text)).toEqual([
      "c.yaml:2 daemon.timezone: expected an IANA time zone like 'UTC' or 'Europe/Berlin'",
      'c.yaml:3 daemon.concurrency: Too small: expected number to be >=1',
      'c.yaml:4 daemon.listen.port: Too big: expected number to be <=65535',
      "c.yaml:5 daemon.drainTimeout: expected a duration like '90s', '15m', '26h' or '7d'",
      'c.yaml:6 daemon.scratchMargin: Too small: expected number to be >=1',
      "c.yaml:7 daemon.scratchSweep.schedule: expected a cron expression like '0 3 * * *'",
      "c.yaml:8 daemon: unknown key 'workers'",
    ]);
  });
});
