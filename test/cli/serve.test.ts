import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeRecord } from '../report/make-record.js';
import { CLI, cli } from '../helpers/cli.js';
import { prepareCliPlace, type CliPlace } from './evidence-fixture.js';

const TOKEN = 'cli-serve-token-0123456789abcdef';
const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const TOKEN_CONFIG = '\nserve:\n  auth:\n    token: ${env:RD_WEB_TOKEN}\n';

/** A `restore-drill serve` running in the background, its URL read from its start-up log line. */
interface Serving {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();

async function startServe(
  args: readonly string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<Serving> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    cwd,
    env: {
      ...process.env,
      RESTORE_DRILL_LOG_FORMAT: 'json',
      RESTORE_DRILL_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve did not start within 50 s:\n${stderr}`)),
      50_000,
    );
    const look = () => {
      const match = /serving the evidence read-only at (http:\/\/\S+\/)"/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    };
    child.stderr?.on('data', look);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before serving:\n${stderr}`));
    });
  });
  return {
    child,
    url,
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal);
      const [code] = await exited;
      running.delete(child);
      return code;
    },
  };
}

afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

describe('restore-drill serve: refusals', () => {
  let place: CliPlace;
  beforeAll(async () => {
    place = await prepareCliPlace('postgres', []);
  });
  afterAll(async () => {
    await place?.cleanup();
  });

  it('refuses to start without any access control configured', async () => {
    const result = await cli(['serve', '--config', place.config], { cwd: place.dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      `restore-drill: no access control configured: set serve.auth.token (e.g. token: \${env:RD_WEB_TOKEN}) or serve.auth.basic in ${place.config}, or pass --insecure-no-auth to serve without it on loopback`,
    );
  });

  it('refuses --insecure-no-auth on an address other hosts can reach, and beside configured credentials', async () => {
    const wide = await cli(
      ['serve', '--config', place.config, '--insecure-no-auth', '--host', '0.0.0.0'],
      { cwd: place.dir },
    );
    expect(wide.exitCode).toBe(2);
    expect(wide.stderr).toContain(
      "--insecure-no-auth: only allowed on a loopback address (127.0.0.1, ::1, localhost), not '0.0.0.0'",
    );
  });

  it('refuses a port that is not one', async () => {
    const result = await cli(
      ['serve', '--config', place.config, '--port', '70000', '--insecure-no-auth'],
      { cwd: place.dir },
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      "--port: '70000' is not a port; expected a whole number from 0 to 65535",
    );
  });

  it('says --help what it holds and what it refuses', async () => {
    const result = await cli(['serve', '--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('--insecure-no-auth');
    expect(result.stdout).toContain('serve holds the database lock while it runs');
    expect(result.stdout).toContain('default_transaction_read_only');
  });
});

describe('restore-drill serve: configured credentials', () => {
  let place: CliPlace;
  beforeAll(async () => {
    place = await prepareCliPlace('postgres', [
      makeRecord({ drill: 'nightly', at: ago(1) }),
      makeRecord({ drill: 'weekly', at: ago(2), verdict: 'failed' }),
    ]);
  });
  afterAll(async () => {
    await place?.cleanup();
  });

  it('refuses a token written into the config file instead of ${env:}', async () => {
    const { writeFile, readFile } = await import('node:fs/promises');
    const original = await readFile(place.config, 'utf8');
    try {
      await writeFile(
        place.config,
        `${original}\nserve:\n  auth:\n    token: literal-secret-in-the-file-0123\n`,
      );
      const result = await cli(['serve', '--config', place.config], { cwd: place.dir });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(
        `${place.config} serve.auth.token: write the secret as \${env:NAME} (e.g. \${env:RD_WEB_TOKEN}) and set it in the environment; it must not be written in the config file`,
      );
      expect(result.stderr).not.toContain('literal-secret-in-the-file-0123');

      await writeFile(
        place.config,
        `${original}\nserve:\n  auth:\n    reviewers:\n      - { user: alice, password: literal-reviewer-pw-0123 }\n`,
      );
      const reviewer = await cli(['serve', '--config', place.config], { cwd: place.dir });
      expect(reviewer.exitCode).toBe(2);
      expect(reviewer.stderr).toContain(
        `${place.config} serve.auth.reviewers[0].password: write the secret as \${env:NAME}`,
      );
      expect(reviewer.stderr).not.toContain('literal-reviewer-pw-0123');

      await writeFile(place.config, `${original}${TOKEN_CONFIG}`);
      const unset = await cli(['serve', '--config', place.config], {
        cwd: place.dir,
        env: { RD_WEB_TOKEN: '' },
      });
      expect(unset.exitCode).toBe(2);
      expect(unset.stderr).toContain(
        'serve.auth.token: environment variable RD_WEB_TOKEN (from ${env:RD_WEB_TOKEN}) is not set',
      );
      const short = await cli(['serve', '--config', place.config], {
        cwd: place.dir,
        env: { RD_WEB_TOKEN: 'short' },
      });
      expect(short.exitCode).toBe(2);
      expect(short.stderr).toContain('serve.auth.token: expected at least 16 characters');
      const both = await cli(['serve', '--config', place.config, '--insecure-no-auth'], {
        cwd: place.dir,
        env: { RD_WEB_TOKEN: TOKEN },
      });
      expect(both.exitCode).toBe(2);
      expect(both.stderr).toContain(
        '--insecure-no-auth: serve.auth is configured; remove one of the two',
      );
    } finally {
      await writeFile(place.config, original);
    }
  });

  describe('serving', () => {
    let serving: Serving | undefined;
    beforeAll(async () => {
      await appendFile(place.config, TOKEN_CONFIG);
    });
    afterEach(async () => {
      if (serving && serving.child.exitCode === null) await serving.stop('SIGKILL');
      serving = undefined;
    });

    it('serves with the token from the environment on loopback, and stops cleanly on SIGTERM', async () => {
      serving = await startServe(['--config', place.config, '--port', '0'], place.dir, {
        RD_WEB_TOKEN: TOKEN,
      });
      expect(serving.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect((await fetch(serving.url)).status).toBe(401);
      const page = await fetch(new URL('/api/summary', serving.url), {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(page.status).toBe(200);
      expect(
        ((await page.json()) as { drills: { name: string }[] }).drills.map((drill) => drill.name),
      ).toEqual(['never-run', 'weekly', 'nightly']);
      expect(
        (
          await fetch(serving.url, {
            method: 'POST',
            headers: { authorization: `Bearer ${TOKEN}` },
          })
        ).status,
      ).toBe(405);
      expect(await serving.stop('SIGTERM')).toBe(0);
      expect(serving.stderr()).toContain('"msg":"web view stopped"');
      expect(serving.stderr()).not.toContain(TOKEN);
      expect(serving.stderr()).toContain('"auth":"token"');
    });

    it('stops cleanly on SIGINT (Ctrl-C) too', async () => {
      serving = await startServe(['--config', place.config, '--port', '0'], place.dir, {
        RD_WEB_TOKEN: TOKEN,
      });
      expect(await serving.stop('SIGINT')).toBe(0);
    });

    it('says plainly when the port is taken', async () => {
      const blocker = createServer();
      blocker.listen(0, '127.0.0.1');
      await once(blocker, 'listening');
      const port = (blocker.address() as { port: number }).port;
      try {
        const result = await cli(['serve', '--config', place.config, '--port', String(port)], {
          cwd: place.dir,
          env: { RD_WEB_TOKEN: TOKEN },
        });
        expect(result.exitCode).toBe(1);
        expect(result.stderr).toContain(
          `restore-drill: cannot listen on 127.0.0.1:${port}: the address is already in use`,
        );
      } finally {
        blocker.close();
      }
    });
  });
});

describe('restore-drill serve --insecure-no-auth', () => {
  let place: CliPlace;
  beforeAll(async () => {
    place = await prepareCliPlace('postgres', [makeRecord({ drill: 'nightly', at: ago(1) })]);
  });
  afterAll(async () => {
    await place?.cleanup();
  });

  it('serves without credentials on loopback, after a loud warning', async () => {
    const serving = await startServe(
      ['--config', place.config, '--port', '0', '--insecure-no-auth'],
      place.dir,
    );
    try {
      expect(serving.stderr()).toContain(
        '!! restore-drill serve: NO AUTHENTICATION (--insecure-no-auth).',
      );
      expect((await fetch(new URL('/runs', serving.url))).status).toBe(200);
    } finally {
      expect(await serving.stop()).toBe(0);
    }
  });
});

describe('restore-drill serve on the embedded database', () => {
  let place: CliPlace;
  beforeAll(async () => {
    place = await prepareCliPlace('pglite', [makeRecord({ drill: 'nightly', at: ago(1) })]);
    await appendFile(place.config, TOKEN_CONFIG);
  });
  afterAll(async () => {
    await place?.cleanup();
  });

  it('holds the database lock while serving: another command is refused, naming the holder, and runs once serve stops', async () => {
    const serving = await startServe(['--config', place.config, '--port', '0'], place.dir, {
      RD_WEB_TOKEN: TOKEN,
    });
    try {
      const runs = await fetch(new URL('/api/runs', serving.url), {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(((await runs.json()) as { total: number }).total).toBe(1);
      // Every command resolves every ${env:} of the config, the serve token's too.
      const blocked = await cli(['history', '--config', place.config], {
        cwd: place.dir,
        timeoutMs: 50_000,
        env: { RD_WEB_TOKEN: TOKEN },
      });
      expect(blocked.exitCode).toBe(1);
      expect(blocked.stderr).toContain(`is in use by pid ${serving.child.pid} on host`);
      expect(blocked.stderr).toContain(
        'embedded PGlite is single-process: stop that process or configure database.url',
      );
    } finally {
      expect(await serving.stop()).toBe(0);
    }
    const after = await cli(['history', '--config', place.config], {
      cwd: place.dir,
      timeoutMs: 50_000,
      env: { RD_WEB_TOKEN: TOKEN },
    });
    expect(after.exitCode).toBe(0);
    expect(after.stdout).toContain('nightly');
  });
});
