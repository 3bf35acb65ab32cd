import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';
import { DRILLS_YAML, restoreDrill } from './evidence-fixture.js';

/** Every verb (and sub-verb) that takes `--json`, with the arguments it needs besides the config. */
const JSON_VERBS: readonly (readonly string[])[] = [
  ['run'],
  ['history'],
  ['show', '00000000'],
  ['validate'],
  ['evidence', 'verify'],
  ['evidence', 'purge', '--before', '400d'],
  ['alerts', 'test'],
  ['alerts', 'check-stale'],
  ['alerts', 'deliver'],
  ['alerts', 'heartbeat'],
  ['alerts', 'log'],
];

/** The verbs among them that open the evidence store (validate and alerts test do not). */
const STORE_VERBS = JSON_VERBS.filter(
  (verb) => verb[0] !== 'validate' && !(verb[0] === 'alerts' && verb[1] === 'test'),
);

interface JsonError {
  error: { code: string; message: string };
}

/** stdout is exactly one JSON object with an `error` and nothing else. */
function parseError(stdout: string): JsonError['error'] {
  const parsed = JSON.parse(stdout) as JsonError;
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(Object.keys(parsed.error).sort()).toEqual(['code', 'message']);
  return parsed.error;
}

// Real CLI processes; none opens a working evidence store, so each is quick.
describe('restore-drill --json failures', { timeout: 60_000 }, () => {
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir('restore-drill-json-errors-');
    await writeFile(join(dir, 'invalid.yaml'), 'drills:\n  - name: x\n    source: { kind: ftp }\n');
    await writeFile(
      join(dir, 'unreachable.yaml'),
      // Port 1: nothing listens, the connection is refused at once (and waitFor 0s tries once).
      `database:\n  url: postgres://nobody@127.0.0.1:1/none\n  waitFor: 0s\nalerts:\n  channels:\n    hook: { kind: webhook, url: 'http://127.0.0.1:1/' }\n${DRILLS_YAML}`,
    );
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [name, previous] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
    ] as const)
      bomb.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
    await writeFile(join(dir, 'bomb.yaml'), `${bomb.join('\n')}\n${DRILLS_YAML}`);
  });

  it.each(JSON_VERBS.map((verb) => [verb.join(' '), verb]))(
    '%s: an invalid config is one JSON error on stdout, code config, exit 2',
    async (_name, verb) => {
      const invalid = await restoreDrill(
        [...verb, '--config', join(dir, 'invalid.yaml'), '--json'],
        dir,
      );
      expect(invalid.exitCode).toBe(2);
      const error = parseError(invalid.stdout);
      expect(error.code).toBe('config');
      expect(error.message).toMatch(/invalid\.yaml:3 drills\[0\]\.source\.kind/);
    },
  );

  it.each(JSON_VERBS.map((verb) => [verb.join(' '), verb]))(
    '%s: a bad flag is one JSON error on stdout, code usage, exit 2',
    async (_name, verb) => {
      const result = await restoreDrill([...verb, '--no-such-flag', '--json'], dir);
      expect(result.exitCode).toBe(2);
      expect(parseError(result.stdout)).toEqual({
        code: 'usage',
        message: "unknown option '--no-such-flag'",
      });
    },
  );

  it.each(STORE_VERBS.map((verb) => [verb.join(' '), verb]))(
    '%s: an unreachable evidence store is one JSON object on stdout, exit 1',
    async (_name, verb) => {
      const result = await restoreDrill(
        [...verb, '--config', join(dir, 'unreachable.yaml'), '--json'],
        dir,
      );
      expect(result.exitCode).toBe(1);
      if (verb[0] === 'run') {
        // `run` lists each drill it could not start, as for any run (README, `database.waitFor`).
        const parsed = JSON.parse(result.stdout) as { runs: unknown[] };
        expect(parsed.runs).toHaveLength(3);
        for (const run of parsed.runs)
          expect(run).toMatchObject({
            verdict: 'error',
            recorded: false,
            cause: expect.stringMatching(
              /^cannot open the evidence database: .*; the drill did not run$/,
            ),
          });
        return;
      }
      const error = parseError(result.stdout);
      expect(error.code).toBe('store.unavailable');
      expect(error.message).toMatch(/^cannot open the evidence database: /);
    },
  );

  it('run --drill with an unknown drill: code drill.unknown, exit 2, naming the drill and the known ones', async () => {
    const result = await restoreDrill(
      ['run', '--drill', 'nope', '--config', join(dir, 'unreachable.yaml'), '--json'],
      dir,
    );
    expect(result.exitCode).toBe(2);
    const error = parseError(result.stdout);
    expect(error.code).toBe('drill.unknown');
    expect(error.message).toMatch(
      /^unknown drill 'nope'; drills in .*unreachable\.yaml: nightly, weekly, never-run$/,
    );
  });

  it('a missing config file: code config, exit 2, naming the file', async () => {
    const result = await restoreDrill(
      ['history', '--config', join(dir, 'absent.yaml'), '--json'],
      dir,
    );
    expect(result.exitCode).toBe(2);
    const error = parseError(result.stdout);
    expect(error.code).toBe('config');
    expect(error.message).toContain(join(dir, 'absent.yaml'));
  });

  it('init: a config file that exists already, or a bad flag: one JSON error, code usage, exit 2', async () => {
    const exists = await restoreDrill(
      ['init', dir, '--config', join(dir, 'invalid.yaml'), '--json'],
      dir,
    );
    expect(exists.exitCode).toBe(2);
    const error = parseError(exists.stdout);
    expect(error.code).toBe('usage');
    expect(error.message).toMatch(/invalid\.yaml exists: add --force to replace it/);
    const flag = await restoreDrill(['init', dir, '--no-such-flag', '--json'], dir);
    expect(flag.exitCode).toBe(2);
    expect(parseError(flag.stdout)).toEqual({
      code: 'usage',
      message: "unknown option '--no-such-flag'",
    });
  });

  it('an unknown verb with --json: code usage, exit 2', async () => {
    const result = await restoreDrill(['frobnicate', '--json'], dir);
    expect(result.exitCode).toBe(2);
    expect(parseError(result.stdout)).toEqual({
      code: 'usage',
      message: "unknown command 'frobnicate'",
    });
  });

  it('without --json a failure writes nothing on stdout, one line on stderr', async () => {
    const result = await restoreDrill(['history', '--config', join(dir, 'absent.yaml')], dir);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderrTail).toMatch(/^restore-drill: .*absent\.yaml/);
  });

  it('a YAML alias bomb is a config error naming the file, exit 2, refused without expanding it', async () => {
    for (const json of [true, false]) {
      const result = await restoreDrill(
        ['validate', '--config', join(dir, 'bomb.yaml'), ...(json ? ['--json'] : [])],
        dir,
      );
      expect(result.exitCode).toBe(2);
      const message = json ? parseError(result.stdout).message : result.stderrTail;
      expect(message).toContain(`${join(dir, 'bomb.yaml')}: YAML: Excessive alias count`);
      if (json) expect(parseError(result.stdout).code).toBe('config');
    }
  });
});
