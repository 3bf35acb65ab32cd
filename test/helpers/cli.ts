import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { runCommand, type CommandResult } from '../../src/exec/run-command.js';

/** The built CLI, as users run it (`npm test` builds first). */
export const CLI = fileURLToPath(new URL('../../dist/bin/restore-drill.js', import.meta.url));

/** Runs `restore-drill ARGS` in a real child process and returns its exit code and full output. */
export async function cli(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult & { stderr: string }> {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run 'npm run build' (npm test does) before the CLI tests`);
  const result = await runCommand(process.execPath, [CLI, ...args], {
    keepStdout: true,
    timeoutMs: options.timeoutMs ?? 50_000,
    env: {
      RESTORE_DRILL_LOG_FORMAT: 'json',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...options.env,
    },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  return { ...result, stderr: result.stderrTail };
}

/**
 * `restore-drill run --config CONFIG --drill … --json` for the named drills in one process
 * (they run one after another, as users run them): one run per drill, in that order.
 */
export async function runDrills<Run extends { drill: string }>(
  config: string,
  drills: readonly string[],
  options: { env?: Record<string, string> } = {},
): Promise<CommandResult & { stderr: string; runs: Run[] }> {
  const result = await cli(
    ['run', '--config', config, ...drills.flatMap((drill) => ['--drill', drill]), '--json'],
    options,
  );
  const { runs } = JSON.parse(result.stdout) as { runs: Run[] };
  expect(
    runs.map((run) => run.drill),
    result.stderr,
  ).toEqual(drills);
  return { ...result, runs };
}
