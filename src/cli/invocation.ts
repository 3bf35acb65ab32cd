import { realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * How the user can run this command again, as they would type it: `npx restore-drill` under
 * npx, `restore-drill` when that name on PATH is this program, else `node <path to it>`.
 */
export function commandName(
  env: NodeJS.ProcessEnv = process.env,
  script: string | undefined = process.argv[1],
): string {
  if (script === undefined) return 'restore-drill';
  // npx runs the package's bin from a node_modules folder (its cache or the project's);
  // npm_command alone is inherited by everything an `npx …` tool starts.
  if (env.npm_command === 'exec' && script.split(path.sep).includes('node_modules'))
    return 'npx restore-drill';
  const self = realpathOrSelf(script);
  for (const folder of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    if (realpathOrSelf(path.join(folder, 'restore-drill')) === self) return 'restore-drill';
  }
  const relative = path.relative(process.cwd(), script);
  return `node ${relative.startsWith('..') || path.isAbsolute(relative) ? script : relative}`;
}

function realpathOrSelf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return `missing:${file}`;
  }
}
