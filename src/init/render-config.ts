import path from 'node:path';
import { Document, isMap, isSeq, type YAMLMap } from 'yaml';
import type { DrillProposal } from './propose.js';

/** Drills start 15 minutes apart from 05:00, so a first config does not restore everything at once. */
function scheduleFor(index: number): string {
  const minutes = 5 * 60 + index * 15;
  return `${minutes % 60} ${Math.floor(minutes / 60) % 24} * * *`;
}

/**
 * The config `init` writes: the JSON Schema line for editors, a commented header, and one
 * drill per proposal with what was found written above it.
 */
export function renderConfig(
  proposals: readonly DrillProposal[],
  options: { file: string; schemaFile: string; commands: { validate: string; run: string } },
): string {
  const drills = proposals.map((proposal, index) => ({
    name: proposal.name,
    description: `Proves that ${proposal.location} restores and verifies.`,
    schedule: scheduleFor(index),
    maxAge: '2d',
    source: proposal.source,
    ...(proposal.sample ? { sample: proposal.sample } : {}),
    checks: proposal.checks,
    ...(proposal.targets ? { targets: proposal.targets } : {}),
  }));
  const doc = new Document({
    scratch: { root: '.restore-drill/scratch', keep: 'on-failure' },
    drills,
  });
  const root = doc.contents as YAMLMap;
  const scratch = root.get('scratch', true);
  if (isMap(scratch))
    scratch.commentBefore =
      ' Every restore lands in a fresh subfolder here (relative to this file), removed afterwards;\n a failed one is kept 3 days for investigation.';
  const list = root.get('drills', true);
  if (isSeq(list))
    list.items.forEach((item, index) => {
      const proposal = proposals[index] as DrillProposal;
      const lines = [`${proposal.location}: ${proposal.found}`, ...proposal.notes];
      if (proposal.env.length > 0)
        lines.push(`Needs in the environment: ${proposal.env.join(', ')}`);
      (item as YAMLMap).commentBefore = lines.map((line) => ` ${line}`).join('\n');
    });
  const header = [
    `# yaml-language-server: $schema=${schemaReference(options.file, options.schemaFile)}`,
    '#',
    '# Written by `restore-drill init`. Review it, then run the drills once by hand:',
    `#   ${options.commands.validate}    # checks this file`,
    `#   ${options.commands.run}         # every drill now; \`daemon\` runs them on their schedules`,
    '# Relative paths resolve from this file. Secrets only as ${env:NAME}.',
    '# Reference: README.md (configuration) and the JSON Schema above.',
    '',
  ];
  return `${header.join('\n')}\n${doc.toString({ lineWidth: 0 })}`;
}

/** The schema relative to the config (beside it, or in node_modules), absolute when they share no folder but `/`. */
function schemaReference(file: string, schemaFile: string): string {
  const relative = path.relative(path.dirname(path.resolve(file)), schemaFile);
  const climbs = relative.split(path.sep).filter((part) => part === '..').length;
  const fromRoot = path.resolve(file).split(path.sep).length - 2;
  if (climbs >= fromRoot) return schemaFile;
  const posix = relative.split(path.sep).join('/');
  return posix.startsWith('.') ? posix : `./${posix}`;
}
