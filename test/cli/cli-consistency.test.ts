import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run, writeTree } from '../helpers/artefacts.js';
import type { Command } from 'commander';
import { jobs } from '../../jobs/index.js';
import { createProgram } from '../../src/cli/program.js';
import { CLI, cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

/** The verbs a `--help` lists under "Commands:" (commander's own `help` left out). */
function commandsIn(help: string): string[] {
  const section = help.split('\nCommands:\n')[1]?.split('\n\n')[0];
  if (section === undefined) return [];
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)]
    .map((match) => match[1]!)
    .filter((name) => name !== 'help');
}

/**
 * The CLI's own program, built in this process as `restore-drill` builds it: every command
 * as its path of words, groups (`alerts`, `evidence`) and the verbs in them, so a verb added
 * later is checked too. Rendering each `--help` here instead of in a process of its own
 * saves ~0.45 s of CPU a command; a few real `--help` processes below check the same text.
 */
async function everyCommand(): Promise<{
  groups: string[][];
  verbs: string[][];
  helpOf: (words: readonly string[]) => string;
}> {
  const program = await createProgram(jobs);
  const groups: string[][] = [];
  const verbs: string[][] = [];
  for (const command of program.commands) {
    const subcommands = command.commands.filter((sub) => sub.name() !== 'help');
    if (subcommands.length === 0) verbs.push([command.name()]);
    else {
      groups.push([command.name()]);
      verbs.push(...subcommands.map((sub) => [command.name(), sub.name()]));
    }
  }
  const helpOf = (words: readonly string[]): string => {
    let command: Command = program;
    for (const word of words) command = command.commands.find((sub) => sub.name() === word)!;
    let text = '';
    command.configureOutput({ writeOut: (chunk) => (text += chunk) });
    command.outputHelp();
    return text;
  };
  return { groups, verbs, helpOf };
}

let root: string;
let config: string;
let pipeRuns = 0;

beforeAll(async () => {
  root = await tempDir('restore-drill-cli-consistency-');
  config = path.join(root, 'restore-drill.yaml');
  // Eight files damaged after their manifest was written: more findings than a summary shows.
  const names = Array.from({ length: 8 }, (_, index) => `f${index}.txt`);
  const set = path.join(root, 'backups', '2026-03-01');
  await writeTree(set, Object.fromEntries(names.map((name) => [name, `${name}\n`])));
  await writeFile(path.join(set, 'SHA256SUMS'), await run('sha256sum', names, set));
  await writeTree(set, Object.fromEntries(names.map((name) => [name, 'changed\n'])));
  await writeFile(
    config,
    [
      `database: { url: '${await createTestDatabase()}' }`,
      'scratch: { root: scratch }',
      'drills:',
      '  - name: files',
      '    source: { kind: directory, path: backups/* }',
      '    checks: { manifest: { path: SHA256SUMS } }',
      '',
    ].join('\n'),
  );
});

/**
 * Runs the CLI with its stdout into a pipe whose reader is gone before it writes (`true`
 * exits at once, the CLI takes far longer to start), as `| head` leaves it.
 */
async function intoClosedPipe(
  args: readonly string[],
): Promise<{ exitCode: number; stderr: string }> {
  const stderrFile = path.join(root, `stderr-${(pipeRuns += 1)}.txt`);
  const status = await run(
    'bash',
    ['-c', 'node "$0" "${@:2}" 2>"$1" | true; echo "${PIPESTATUS[0]}"', CLI, stderrFile, ...args],
    root,
  );
  return { exitCode: Number(status.trim()), stderr: await readFile(stderrFile, 'utf8') };
}

describe('one CLI everywhere', () => {
  let found: Awaited<ReturnType<typeof everyCommand>>;
  beforeAll(async () => {
    found = await everyCommand();
  }, 60_000);

  it('finds every command, the same ones the real CLI lists in its help', async () => {
    // The commands the README documents are all found: the discovery itself works.
    const verbs = found.verbs.map((verb) => verb.join(' '));
    for (const known of ['run', 'history', 'evidence verify', 'alerts log', 'completion'])
      expect(verbs).toContain(known);
    expect(found.groups.map((group) => group.join(' '))).toEqual(
      expect.arrayContaining(['alerts', 'evidence']),
    );
    const [top, evidence] = await Promise.all([cli(['--help']), cli(['evidence', '--help'])]);
    expect(commandsIn(top.stdout).sort()).toEqual(
      [...found.groups, ...found.verbs.filter((verb) => verb.length === 1)]
        .map(([name]) => name)
        .sort(),
    );
    expect(commandsIn(evidence.stdout).sort()).toEqual(
      found.verbs
        .filter(([group]) => group === 'evidence')
        .map(([, verb]) => verb)
        .sort(),
    );
    // The help a process prints is the help rendered here.
    expect(evidence.stdout.trimEnd()).toBe(found.helpOf(['evidence']).trimEnd());
  });

  it('every verb takes --config and --log-level, and every command shows an example in its --help', () => {
    for (const command of [...found.groups, ...found.verbs]) {
      const name = command.join(' ');
      const help = found.helpOf(command);
      expect(help, name).toMatch(/\nExamples:\n {2}.*restore-drill /);
      if (found.groups.includes(command)) continue;
      expect(help, name).toContain('--config <path>');
      expect(help, name).toContain('--log-level <level>');
      if (name === 'report')
        expect(help).toContain(
          'restore-drill report --format csv --out runs.csv    # also writes runs.summary.csv',
        );
    }
  });

  it('prints the same help from a real process, with exit 0, for a verb and a sub-verb', async () => {
    for (const command of [['run'], ['evidence', 'verify']]) {
      const help = await cli([...command, '--help']);
      expect(help.exitCode, command.join(' ')).toBe(0);
      expect(help.stdout.trimEnd(), command.join(' ')).toBe(found.helpOf(command).trimEnd());
      expect(help.stdout).toMatch(/\nExamples:\n {2}.*restore-drill /);
    }
  });

  it('manifest accepts --config and --log-level like every verb', async () => {
    const result = await cli([
      'manifest',
      path.join(root, 'backups', '2026-03-01'),
      '--config',
      config,
      '--log-level',
      'warn',
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ format: 'restore-drill-manifest' });
  });

  it('ends quietly with exit 0 when the reader of its output goes away (| head)', async () => {
    for (const args of [['validate', '--config', config], ['completion', 'bash'], ['--help']]) {
      const result = await intoClosedPipe(args);
      expect(result, args.join(' ')).toEqual({ exitCode: 0, stderr: '' });
    }
  });

  it('shows the first findings with a pointer to --all, and every finding with show --all', async () => {
    const ran = await cli(['run', '--config', config, '--json']);
    expect(ran.exitCode).toBe(1);
    const runId = (JSON.parse(ran.stdout) as { runs: { runId: string }[] }).runs[0]!.runId;
    const short = await cli(['show', runId.slice(0, 8), '--config', config]);
    expect(short.stdout.match(/changed: f\d\.txt/g)).toHaveLength(5);
    expect(short.stdout).toContain(`… and 3 more (restore-drill show ${runId.slice(0, 8)} --all)`);
    const all = await cli(['show', runId.slice(0, 8), '--all', '--config', config]);
    expect(all.exitCode).toBe(0);
    expect(all.stdout.match(/changed: f\d\.txt/g)?.sort()).toEqual(
      Array.from({ length: 8 }, (_, index) => `changed: f${index}.txt`),
    );
    expect(all.stdout).not.toContain('--all)');
  });

  it('prints bash and zsh completion that completes verbs, sub-verbs, flags and their choices', async () => {
    const bash = await cli(['completion', 'bash']);
    expect(bash.exitCode).toBe(0);
    const script = path.join(root, 'completion.bash');
    await writeFile(script, bash.stdout);
    const complete = (words: readonly string[]) =>
      run(
        'bash',
        [
          '-c',
          'source "$0"; COMP_WORDS=("${@:1}"); COMP_CWORD=$(($# - 1)); _restore_drill; echo "${COMPREPLY[*]}"',
          script,
          'restore-drill',
          ...words,
        ],
        root,
      ).then((out) => out.trim());
    expect(await complete(['va'])).toBe('validate');
    expect(await complete(['evidence', ''])).toBe('verify export backup purge');
    expect(await complete(['report', '--format', ''])).toBe('html csv json oscal');
    expect(await complete(['show', '--a'])).toBe('--all');
    const zsh = await cli(['completion', 'zsh']);
    expect(zsh.stdout.split('\n').slice(0, 3)).toEqual([
      '#compdef restore-drill',
      '# zsh completion for restore-drill (restore-drill completion zsh)',
      'autoload -U +X bashcompinit && bashcompinit',
    ]);
    expect(zsh.stdout).toContain(bash.stdout);
    expect((await cli(['completion', 'fish'])).exitCode).toBe(2);
  });
});
