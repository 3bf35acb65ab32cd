import type { Command } from 'commander';

/** Examples shown at the end of each verb's `--help`, keyed by the verb's path (`evidence verify`). */
const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  run: [
    'restore-drill run --config /etc/restore-drill/restore-drill.yaml',
    'restore-drill run --drill fileserver-nightly --json',
    'restore-drill run --drill fileserver-nightly --replay 5f8c7938',
  ],
  history: [
    'restore-drill history --since 30d',
    'restore-drill history --drill fileserver-nightly --verdict failed',
  ],
  show: ['restore-drill show 5f8c7938', 'restore-drill show 5f8c7938 --all --items'],
  signoff: [
    "restore-drill signoff 5f8c7938 --by alice --decision remediation --note 'manifest drift: job fixed' --ticket OPS-7",
    "restore-drill signoff 5f8c7938 --by bob --decision risk-accepted --note 'legacy share, retired in Q3'",
  ],
  selftest: [
    'restore-drill selftest --drill fileserver-nightly',
    'restore-drill selftest --drill orders-db --json',
  ],
  init: [
    'restore-drill init /backups/nightly /backups/restic-repo',
    'restore-drill init s3://acme-backups/nightly/ --config drills.yaml',
  ],
  validate: ['restore-drill validate --config restore-drill.yaml', 'restore-drill validate --json'],
  alerts: ['restore-drill alerts test', 'restore-drill alerts log --limit 20'],
  'alerts test': ['restore-drill alerts test', 'restore-drill alerts test --channel ops-mail'],
  'alerts check-stale': ['restore-drill alerts check-stale'],
  'alerts deliver': ['restore-drill alerts deliver'],
  'alerts heartbeat': ['restore-drill alerts heartbeat'],
  'alerts log': ['restore-drill alerts log --drill fileserver-nightly --limit 50'],
  report: [
    'restore-drill report --since 90d --out drills.html',
    'restore-drill report --format csv --out runs.csv    # also writes runs.summary.csv',
  ],
  evidence: [
    'restore-drill evidence verify',
    'restore-drill evidence export --since 365d > bundle.jsonl',
  ],
  'evidence verify': [
    'restore-drill evidence verify',
    'restore-drill evidence verify evidence-2026.jsonl',
  ],
  'evidence export': ['restore-drill evidence export --out evidence-2026.jsonl'],
  'evidence backup': [
    'restore-drill evidence backup --out /backups/evidence',
    'restore-drill evidence backup --out /backups/evidence --pg-dump --json',
  ],
  'evidence purge': [
    'restore-drill evidence purge --before 400d    # says what would go',
    'restore-drill evidence purge --before 400d --yes',
  ],
  serve: ['RD_WEB_TOKEN=secret restore-drill serve --port 8470'],
  daemon: ['restore-drill daemon --config /etc/restore-drill/restore-drill.yaml'],
  completion: [
    'restore-drill completion bash > /etc/bash_completion.d/restore-drill',
    'source <(restore-drill completion zsh)    # in ~/.zshrc',
  ],
};

/** Adds the examples to every verb's help that has none of its own yet. */
export function addExamples(program: Command): void {
  const visit = (command: Command, prefix: string): void => {
    for (const sub of command.commands) {
      const key = prefix ? `${prefix} ${sub.name()}` : sub.name();
      const examples = EXAMPLES[key];
      if (examples)
        sub.addHelpText('after', `\nExamples:\n${examples.map((line) => `  ${line}`).join('\n')}`);
      visit(sub, key);
    }
  };
  visit(program, '');
}
