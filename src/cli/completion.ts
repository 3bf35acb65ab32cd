import { Argument, Command, type Option } from 'commander';
import { withCommonOptions } from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

/** The long flags of a command, for completion. */
function flagsOf(command: Command): string[] {
  return [
    ...(command.options as readonly Option[]).flatMap((option) =>
      option.long ? [option.long] : [],
    ),
    '--help',
  ];
}

/** Values a flag takes when they are a fixed list (`--format html|csv|json`). */
function choicesOf(command: Command): Array<[string, readonly string[]]> {
  return (command.options as readonly Option[]).flatMap((option) =>
    option.long && option.argChoices
      ? [[option.long, option.argChoices] as [string, readonly string[]]]
      : [],
  );
}

/**
 * A bash completion script generated from the command tree itself, so it never lags
 * behind the verbs and flags. zsh loads it through bashcompinit.
 */
export function bashCompletion(program: Command): string {
  const verbs = program.commands.map((command) => command.name());
  const cases: string[] = [];
  for (const verb of program.commands) {
    const subs = verb.commands.map((sub) => sub.name());
    if (subs.length > 0) {
      const subCases = verb.commands.map(
        (sub) =>
          `        ${sub.name()}) _restore_drill_flags "${flagsOf(sub).join(' ')}" "${choiceCases(sub)}" ;;`,
      );
      cases.push(
        `    ${verb.name()})`,
        `      if [[ $COMP_CWORD -eq 2 ]]; then COMPREPLY=($(compgen -W "${subs.join(' ')}" -- "$cur")); return; fi`,
        `      case "\${COMP_WORDS[2]}" in`,
        ...subCases,
        '      esac ;;',
      );
    } else {
      cases.push(
        `    ${verb.name()}) _restore_drill_flags "${flagsOf(verb).join(' ')}" "${choiceCases(verb)}" ;;`,
      );
    }
  }
  return `# bash completion for restore-drill (restore-drill completion bash)
_restore_drill_flags() {
  local flags="$1" choices="$2" prev="\${COMP_WORDS[COMP_CWORD-1]}" entry
  for entry in $choices; do
    if [[ "\${entry%%=*}" == "$prev" ]]; then
      local values="\${entry#*=}"
      COMPREPLY=($(compgen -W "\${values//,/ }" -- "$cur")); return
    fi
  done
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur")); fi
}
_restore_drill() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  COMPREPLY=()
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "${verbs.join(' ')} --help --version" -- "$cur")); return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
  esac
}
complete -o default -F _restore_drill restore-drill
`;
}

function choiceCases(command: Command): string {
  return choicesOf(command)
    .map(([flag, values]) => `${flag}=${values.join(',')}`)
    .join(' ');
}

/** zsh runs the bash script through its bash compatibility layer. */
function zshCompletion(program: Command): string {
  return `#compdef restore-drill
# zsh completion for restore-drill (restore-drill completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`;
}

/** `restore-drill completion bash|zsh`: prints the shell completion script. */
export function completionCommand(program: () => Command): Command {
  const command = new Command('completion')
    .description('Print the shell completion script for bash or zsh')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']));
  // --config and --log-level are accepted like everywhere; the script needs neither.
  return withCommonOptions(command, { json: false }).action((shell: string) => {
    if (shell !== 'bash' && shell !== 'zsh')
      throw new CliError(`unknown shell '${shell}'`, ExitCode.Usage);
    process.stdout.write(shell === 'bash' ? bashCompletion(program()) : zshCompletion(program()));
  });
}
