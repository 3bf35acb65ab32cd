import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { expandHome } from '../model/local-path.js';
import { ConfigError, parseConfig } from '../config/load.js';
import { proposeLocal, proposeS3, ProposalError, type DrillProposal } from '../init/propose.js';
import { renderConfig } from '../init/render-config.js';
import { guardConfigScratchRoot } from '../drill/scratch-guard.js';
import { ScratchError } from '../scratch/scratch-dir.js';
import { DEFAULT_CONFIG, printJson, withCommonOptions, type CommonOptions } from './context.js';
import { CliError, ExitCode } from './exit-codes.js';
import { commandName } from './invocation.js';

/** The JSON Schema shipped with the package (found from src/cli/ and from dist/src/cli/), for editors. */
const SCHEMA_FILE = [
  '../../config/restore-drill.schema.json',
  '../../../config/restore-drill.schema.json',
]
  .map((candidate) => fileURLToPath(new URL(candidate, import.meta.url)))
  .find((candidate) => existsSync(candidate)) as string;

interface InitOptions extends CommonOptions {
  force?: boolean;
}

/**
 * `restore-drill init PATH…`: looks at backup locations, proposes a drill for each, writes a
 * commented config (never over an existing file without --force), validates it and prints
 * the command to run next.
 */
export function initCommand(): Command {
  const command = new Command('init')
    .description(
      'Propose drills for backup locations (folders of sets, archives or pg_dump files, restic repositories, s3://bucket/prefix) and write a config',
    )
    .argument('<paths...>', 'backup locations: folders, archives, dumps, s3://bucket/prefix')
    .option('--force', 'replace the config file if it exists');
  withCommonOptions(command).action(async (locations: string[], options: InitOptions) => {
    const file = path.resolve(expandHome(options.config));
    const display = path.relative(process.cwd(), file) || file;
    if (!options.force && (await fileExists(file)))
      throw new CliError(
        `${display} exists: add --force to replace it, or --config to write another file`,
        ExitCode.Usage,
      );
    const proposals = uniqueNames(await Promise.all(locations.map(propose)));
    const name = commandName();
    const config = isDefaultConfig(file) ? '' : ` --config ${display}`;
    const text = renderConfig(proposals, {
      file,
      schemaFile: SCHEMA_FILE,
      commands: { validate: `${name} validate${config}`, run: `${name} run${config}` },
    });
    // Validated before it is written, with placeholders for variables not set yet.
    const needed = [...new Set(proposals.flatMap((proposal) => proposal.env))];
    const missing = needed.filter((name) => !process.env[name]);
    try {
      const loaded = parseConfig(text, display, placeholders(missing), path.dirname(file));
      await guardConfigScratchRoot(loaded.config, loaded.dir);
    } catch (error) {
      if (error instanceof ConfigError || error instanceof ScratchError)
        throw new CliError(`the proposed config is not valid: ${error.message}`, ExitCode.Usage);
      throw error;
    }
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text, { flag: options.force ? 'w' : 'wx' });
    const next = `${name} run${config}`;
    if (options.json) {
      printJson({
        file,
        drills: proposals.map(({ name, location, found, source, notes, env }) => ({
          name,
          location,
          found,
          kind: source.kind,
          notes,
          env,
        })),
        missingEnv: missing,
        next,
      });
      return;
    }
    const width = Math.max(...proposals.map((proposal) => proposal.name.length));
    const lines = [
      `wrote ${display}: ${proposals.length} drill${proposals.length === 1 ? '' : 's'}`,
    ];
    for (const proposal of proposals)
      lines.push(
        `  ${proposal.name.padEnd(width)}  ${String(proposal.source.kind).padEnd(9)} ${proposal.found}`,
      );
    if (missing.length > 0)
      lines.push('', `Set ${missing.join(', ')} in the environment, then run:`);
    else lines.push('', 'Next, run the drills once:');
    lines.push(`  ${next}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  });
  return command;
}

async function propose(location: string): Promise<DrillProposal> {
  try {
    if (location.startsWith('s3://')) return await proposeS3(location);
    return await proposeLocal(location, path.resolve(expandHome(location)));
  } catch (error) {
    if (error instanceof ProposalError) throw new CliError(error.message, ExitCode.Usage);
    throw error;
  }
}

/** Two locations ending in the same name (`a/nightly`, `b/nightly`) get `nightly` and `nightly-2`. */
function uniqueNames(proposals: DrillProposal[]): DrillProposal[] {
  const seen = new Map<string, number>();
  return proposals.map((proposal) => {
    const count = (seen.get(proposal.name) ?? 0) + 1;
    seen.set(proposal.name, count);
    return count === 1 ? proposal : { ...proposal, name: `${proposal.name}-${count}` };
  });
}

/** Values that pass validation in place of variables the user has not set yet. */
function placeholders(names: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of names) env[name] = name.endsWith('PORT') ? '5432' : 'unset';
  return env;
}

function isDefaultConfig(file: string): boolean {
  return path.resolve(DEFAULT_CONFIG) === file && process.env.RESTORE_DRILL_CONFIG === undefined;
}

async function fileExists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
