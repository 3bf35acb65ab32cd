import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchemaText } from '../../src/config/json-schema.js';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
import { embeddedDirFor } from '../../src/evidence/embedded-dir.js';
import { redactor } from '../../src/model/redact.js';

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'drills.yaml', env, '/etc/restore-drill');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

const minimal = `
drills:
  - name: nightly
    source: { kind: tar, path: /backups/*.tar.gz }
`;

describe('config loading', () => {
  it('applies the documented defaults', () => {
    const { config } = parseConfig(minimal, 'drills.yaml', {}, '/etc/restore-drill');
    const drill = config.drills[0]!;
    expect(drill.source).toEqual({ kind: 'tar', path: '/backups/*.tar.gz', select: 'latest' });
    expect(drill.checks).toEqual({ extraFiles: 'fail' });
    expect(config.scratch.keep).toBe('never');
  });

  it('parses durations, sizes and the manifest default format', () => {
    const { config } = parseConfig(
      `
drills:
  - name: a
    timeout: 90s
    maxAge: 7d
    source: { kind: directory, path: sets/*, select: newest }
    checks: { manifest: { path: SHA256SUMS }, bytes: { min: 2KiB }, files: { exact: 3 } }
    targets: { rto: 15m, rpo: 26h }
`,
      'drills.yaml',
    );
    const drill = config.drills[0]!;
    expect(drill.timeout).toBe(90_000);
    expect(drill.maxAge).toBe(7 * 86_400_000);
    expect(drill.targets).toEqual({ rto: 900_000, rpo: 26 * 3_600_000 });
    expect(drill.checks.manifest).toEqual({ format: 'sha256sum', path: 'SHA256SUMS' });
    expect(drill.checks.bytes).toEqual({ min: 2048 });
  });

  it('reports every problem at once, each with its path and line', () => {
    const lines = problemsOf(`
scratch:
  root: /var/tmp/rd
  keep: sometimes
drills:
  - name: ok
    source: { kind: tar, path: /b/*.tar }
  - name: bad one
    source:
      kind: ftp
      path: /x
  - name: c
    timeout: soon
    source: { kind: directory, path: /d/* }
    checks: { extraFiles: maybe, files: { min: -1 } }
`);
    expect(lines).toEqual([
      `drills.yaml:4 scratch.keep: 'sometimes' is not allowed; expected one of 'never', 'on-failure', 'always'`,
      'drills.yaml:8 drills[1].name: expected letters, digits, _ . - (starting with a letter or digit)',
      `drills.yaml:10 drills[1].source.kind: 'ftp' is not a source kind; expected one of ${lines[2]!.split('expected one of ')[1]}`,
      `drills.yaml:13 drills[2].timeout: expected a duration like '90s', '15m', '26h' or '7d'`,
      `drills.yaml:15 drills[2].checks.extraFiles: 'maybe' is not allowed; expected one of 'fail', 'warn', 'ignore'`,
      expect.stringMatching(/^drills\.yaml:15 drills\[2\]\.checks\.files\.min: .*>=0/),
    ]);
    expect(lines[2]).toContain(`'directory', 'tar'`);
  });

  it('names the line of the enclosing mapping for a missing key', () => {
    const lines = problemsOf(`
drills:
  - name: a
    source:
      kind: tar
`);
    expect(lines).toEqual(['drills.yaml:4 drills[0].source.path: missing; expected string']);
  });

  it('rejects unknown keys, naming them', () => {
    expect(problemsOf(`${minimal}    sechdule: "0 3 * * *"\n`)).toEqual([
      `drills.yaml:5 drills[0]: unknown key 'sechdule'`,
    ]);
  });

  it('rejects a bad cron expression and duplicate drill names', () => {
    const lines = problemsOf(`
drills:
  - name: a
    schedule: "61 * * * *"
    source: { kind: tar, path: /b/*.tar }
  - name: a
    source: { kind: tar, path: /b/*.tar }
`);
    expect(lines).toEqual([
      `drills.yaml:4 drills[0].schedule: expected a cron expression like '0 3 * * *'`,
      `drills.yaml:6 drills[1].name: duplicate drill name 'a' (also drills[0])`,
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    const lines = problemsOf('drills:\n  - name: a\n    source: { kind: tar\n');
    expect(lines[0]).toMatch(/^drills\.yaml:\d+: YAML: /);
  });

  it('resolves ${env:NAME}, registers the value for redaction, and reports an unset variable', () => {
    const text = `
database:
  url: postgres://drill:\${env:RD_TEST_DB_PASSWORD}@db.internal/evidence
drills:
  - name: a
    source: { kind: tar, path: "\${env:RD_TEST_BACKUPS}/*.tar" }
`;
    const { config } = parseConfig(text, 'drills.yaml', {
      RD_TEST_DB_PASSWORD: 's3cr3t-pw',
      RD_TEST_BACKUPS: '/srv/backups',
    });
    expect(config.database.url).toBe('postgres://drill:s3cr3t-pw@db.internal/evidence');
    expect(config.drills[0]!.source).toMatchObject({ path: '/srv/backups/*.tar' });
    expect(redactor.redact('connecting as s3cr3t-pw')).toBe(
      'connecting as ${env:RD_TEST_DB_PASSWORD}',
    );
    expect(problemsOf(text, { RD_TEST_BACKUPS: '/srv' })).toEqual([
      'drills.yaml:3 database.url: environment variable RD_TEST_DB_PASSWORD (from ${env:RD_TEST_DB_PASSWORD}) is not set',
    ]);
  });

  it('takes database.path for the embedded store, relative to the config, and refuses it beside url', () => {
    const { config } = parseConfig(
      `database: { path: /var/lib/restore-drill/evidence }\n${minimal}`,
      '/etc/restore-drill/drills.yaml',
      {},
      '/etc/restore-drill',
    );
    expect(embeddedDirFor(config.database, '/etc/restore-drill')).toBe(
      '/var/lib/restore-drill/evidence',
    );
    expect(embeddedDirFor({}, '/etc/restore-drill')).toBe('/etc/restore-drill/.restore-drill');
    expect(embeddedDirFor({ path: 'db' }, '/etc/restore-drill')).toBe('/etc/restore-drill/db');
    expect(
      problemsOf(`database:\n  url: postgres://u@db/evidence\n  path: evidence\n${minimal}`),
    ).toEqual([
      'drills.yaml:3 database.path: is the embedded database folder, unused with url: remove one of them',
    ]);
  });

  it('leaves unset variables of sections the command does not use unresolved, and reports them when it does', () => {
    const text = `${minimal}serve:\n  auth: { token: "\${env:RD_TEST_WEB_TOKEN}" }\n`;
    const { config } = parseConfig(text, 'drills.yaml', {}, '/etc', { unusedSections: ['serve'] });
    expect(config.drills).toHaveLength(1);
    expect(problemsOf(text)).toEqual([
      expect.stringContaining('serve.auth.token: environment variable RD_TEST_WEB_TOKEN'),
    ]);
  });

  it('refuses references other than ${env:NAME}', () => {
    expect(problemsOf(`${minimal}    description: "\${file:/etc/passwd}"\n`)).toEqual([
      `drills.yaml:5 drills[0].description: '\${file:/etc/passwd}' is not a supported reference; expected \${env:NAME}`,
    ]);
  });

  it('names the file when it cannot be read', async () => {
    await expect(loadConfig('/nonexistent/restore-drill.yaml')).rejects.toThrow(
      '/nonexistent/restore-drill.yaml: cannot read config: file not found',
    );
  });

  it('loads the shipped example config', async () => {
    const loaded = await loadConfig(
      new URL('../../config/restore-drill.yaml', import.meta.url).pathname,
    );
    expect(loaded.config.drills.map((drill) => drill.name)).toEqual([
      'fileserver-nightly',
      'uploads-weekly',
      'fileserver-damaged',
    ]);
  });
});

describe('JSON Schema', () => {
  it('config/restore-drill.schema.json is in sync with the zod schema (npm run schema)', () => {
    const committed = readFileSync(
      new URL('../../config/restore-drill.schema.json', import.meta.url),
      'utf8',
    );
    expect(committed).toBe(configJsonSchemaText());
  });

  it('describes the fields editors complete', () => {
    const schema = JSON.parse(configJsonSchemaText()) as {
      properties: Record<string, { description?: string }>;
    };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['database', 'scratch', 'drills']),
    );
    expect(schema.properties.drills?.description).toBe('The restore drills.');
  });
});
