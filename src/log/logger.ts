import { pino, type Logger as PinoLogger } from 'pino';
import { createRequire } from 'node:module';
import { redactor } from '../model/redact.js';

/** The logger every module takes: pino's, so fields stay structured. */
export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: string;
  /** `json` for machines, `pretty` for people; `auto` picks pretty on a TTY. */
  format?: 'json' | 'pretty' | 'auto';
}

/**
 * Logs go to stderr (stdout belongs to `--json` output): structured JSON for
 * machines, one short human line on a TTY. Every line passes the redactor.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.RESTORE_DRILL_LOG_LEVEL ?? 'info';
  const format =
    options.format ?? (process.env.RESTORE_DRILL_LOG_FORMAT as LoggerOptions['format']) ?? 'auto';
  const usePretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  const hooks = { streamWrite: (line: string) => redactor.redact(line) };
  if (usePretty) {
    // Loaded only for people at a terminal: machines (and --version) never pay for it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    const stream = pretty({
      // On a terminal, through process.stderr: a status line (cli/progress-display.ts) then
      // clears itself around each log line. Elsewhere straight to fd 2.
      destination: process.stderr.isTTY === true ? process.stderr : 2,
      sync: true,
      colorize: process.stderr.isTTY === true,
      singleLine: true,
      messageFormat: '{if drill}{drill}: {end}{msg}',
      ignore: 'pid,hostname,runId,drill',
      translateTime: 'HH:MM:ss',
    });
    return pino({ level, hooks, base: undefined }, stream);
  }
  return pino(
    { level, hooks, base: { pid: process.pid } },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger that writes nothing, for tests and library callers that do not log. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
