import { homedir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** Why a leading `~user` is refused: only the current user's home is known without a lookup. */
const OTHER_HOME = /^~[^/]/;

/**
 * `~` and `~/rest` become the home folder (a shell would have done it, YAML and
 * `--opt=~/x` do not); anything else is returned unchanged. Throws on `~user/`.
 */
export function expandHome(text: string, home: string = homedir()): string {
  if (text === '~') return home;
  if (text.startsWith('~/')) return path.join(home, text.slice(2));
  if (OTHER_HOME.test(text)) {
    throw new Error(
      `'${text}': only '~' and '~/…' (your own home folder) are expanded; write the absolute path`,
    );
  }
  return text;
}

/**
 * A local path read from the config: `~/…` expands to the home folder, `~user/…`
 * is refused; relative paths stay relative (resolved from the config file's folder later).
 */
export const localPathSchema = z
  .string()
  .min(1)
  .transform((text, ctx) => {
    try {
      return expandHome(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });
