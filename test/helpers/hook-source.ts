import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describeExit, runCommand } from '../../src/exec/run-command.js';
import { type ExecRecord } from '../../src/model/exec-record.js';
import type { SourceConfig } from '../../src/sources/config-registry.js';
import { createSource } from '../../src/sources/registry.js';
import { type RestoreSource } from '../../src/sources/restore-source.js';
import { SourceError } from '../../src/model/restore.js';
import type { SourceContext } from '../../src/sources/source-kind.js';

/** A file in a backup set holding a JSON argv: the test source runs it before restoring, as a command-driven source would. */
export const PRE_RESTORE_FILE = '.pre-restore';

/**
 * The registry's source, wrapped: before restoring a set that holds a
 * `.pre-restore` file, it runs that command (an argv array; `{scratch}` becomes
 * the scratch folder) through runCommand with the run's abort signal, the way a
 * restore tool is run. Tests use it for slow and hanging restores with real
 * child processes; the real registry is not touched.
 */
export function hookedSource(config: SourceConfig, context: SourceContext): RestoreSource {
  const inner = createSource(config, context);
  return {
    kind: inner.kind,
    listSets: (options) => inner.listSets(options),
    listItems: (set, options) => inner.listItems(set, options),
    async restore(set, scratchDir, options) {
      const commands: ExecRecord[] = [];
      const hook = await readFile(path.join(set.path, PRE_RESTORE_FILE), 'utf8').catch(() => null);
      if (hook !== null) {
        const argv = (JSON.parse(hook) as string[]).map((arg) =>
          arg.replaceAll('{scratch}', scratchDir),
        );
        const result = await runCommand(argv[0] as string, argv.slice(1), {
          signal: options.signal,
        });
        commands.push(result);
        options.signal?.throwIfAborted();
        if (result.exitCode !== 0)
          throw new SourceError(`pre-restore command failed: ${describeExit(result)}`);
      }
      const outcome = await inner.restore(set, scratchDir, options);
      return { ...outcome, commands: [...commands, ...(outcome.commands ?? [])] };
    },
  };
}
