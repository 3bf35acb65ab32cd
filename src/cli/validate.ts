import { Command } from 'commander';
import { embeddedDirFor } from '../evidence/embedded-dir.js';
import { formatDuration } from '../model/duration.js';
import { redactor } from '../model/redact.js';
import type { DrillConfig } from '../config/schema.js';
import { loadConfigOrExit, printJson, withCommonOptions, type CommonOptions } from './context.js';

/** `restore-drill validate`: check the config and print the drills as resolved (secrets shown as their references). */
export function validateCommand(): Command {
  const command = new Command('validate').description(
    'Check the config file and print the resolved drills; exit 2 on any problem',
  );
  withCommonOptions(command).action(async (options: CommonOptions) => {
    const loaded = await loadConfigOrExit(options, { uses: ['serve'], scratch: true });
    // Resolved values of ${env:} references are masked back to their references.
    const config = redactor.redactValue(loaded.config);
    if (options.json) {
      printJson({ file: loaded.file, valid: true, config });
      return;
    }
    const lines = [
      `${loaded.file}: valid, ${config.drills.length} drill${config.drills.length === 1 ? '' : 's'}`,
    ];
    lines.push(
      `database: ${config.database.url ?? `embedded PGlite in ${embeddedDirFor(config.database, loaded.dir)}`}`,
    );
    lines.push(`scratch: ${config.scratch.root} (keep: ${config.scratch.keep})`);
    for (const drill of config.drills) lines.push('', ...describeDrill(drill));
    process.stdout.write(`${lines.join('\n')}\n`);
  });
  return command;
}

function describeDrill(drill: DrillConfig): string[] {
  const { kind, ...source } = drill.source as { kind: string } & Record<string, unknown>;
  const out = [`${drill.name}${drill.owner ? `  (owner: ${drill.owner})` : ''}`];
  if (drill.description) out.push(`  ${drill.description}`);
  out.push(`  source:   ${kind} ${JSON.stringify(source)}`);
  out.push(
    `  schedule: ${drill.schedule ?? 'none (run on demand)'}${drill.timeout ? `, timeout ${formatDuration(drill.timeout)}` : ''}${drill.maxAge ? `, stale after ${formatDuration(drill.maxAge)}` : ''}`,
  );
  if (drill.sample) out.push(`  sample:   ${JSON.stringify(drill.sample)}`);
  out.push(`  checks:   ${JSON.stringify(drill.checks)}`);
  if (drill.targets) {
    const targets = [
      drill.targets.rto !== undefined ? `rto ${formatDuration(drill.targets.rto)}` : '',
      drill.targets.rpo !== undefined ? `rpo ${formatDuration(drill.targets.rpo)}` : '',
    ].filter(Boolean);
    out.push(`  targets:  ${targets.join(', ')}`);
  }
  if (drill.tags.length > 0) out.push(`  tags:     ${drill.tags.join(', ')}`);
  return out;
}
