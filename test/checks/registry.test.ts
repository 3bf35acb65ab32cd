import { describe, expect, test } from 'vitest';
import {
  buildChecks,
  buildPhasedChecks,
  checkKindNames,
  checkNeeds,
} from '../../src/checks/registry.js';
import { checksSchema, targetsSchema } from '../../src/config/schema.js';

const names = (checks: { name: string }[]) => checks.map((check) => check.name);

describe('buildChecks', () => {
  test('with nothing configured, checks only the restore itself', () => {
    expect(names(buildChecks(checksSchema.parse({}), undefined))).toEqual(['restore']);
  });

  test('builds every configured check in order, with rto last', () => {
    const checks = checksSchema.parse({
      manifest: { path: 'SHA256SUMS' },
      extraFiles: 'warn',
      files: { min: 1 },
      bytes: { min: '1MB' },
    });
    const targets = targetsSchema.parse({ rto: '15m', rpo: '26h' });
    expect(names(buildChecks(checks, targets))).toEqual([
      'restore',
      'manifest',
      'extraFiles',
      'files',
      'bytes',
      'rpo',
      'rto',
    ]);
  });

  test('adds extraFiles only with a manifest', () => {
    expect(
      names(
        buildChecks(
          checksSchema.parse({ extraFiles: 'fail', files: { exact: 2 } }),
          targetsSchema.parse({ rpo: '1d' }),
        ),
      ),
    ).toEqual(['restore', 'files', 'rpo']);
  });
});

describe('checkNeeds', () => {
  test('asks for the last passing run only when tables compares with it', () => {
    const lastPass = checksSchema.parse({ tables: { from: 'last-pass' } });
    expect(checkNeeds(lastPass, undefined).has('lastPass')).toBe(true);
    const fromManifest = checksSchema.parse({
      manifest: { format: 'restore-drill', path: 'manifest.json' },
      tables: { from: 'manifest' },
    });
    expect([...checkNeeds(fromManifest, undefined)]).toEqual(['manifest']);
    expect(checkNeeds(checksSchema.parse({ files: { min: 1 } }), undefined).has('lastPass')).toBe(
      false,
    );
  });
});

describe('buildPhasedChecks', () => {
  test('hands the last passing run to the tables check', async () => {
    const phased = buildPhasedChecks(
      checksSchema.parse({ tables: { from: 'last-pass' } }),
      undefined,
      {
        lastPass: undefined,
      },
    );
    expect(names(phased.restore)).toEqual(['restore']);
    expect(names(phased.data)).toEqual(['tables']);
    expect(phased.targets).toEqual([]);
  });

  test('puts the targets last, rpo before rto', () => {
    const phased = buildPhasedChecks(
      checksSchema.parse({ sql: [{ name: 'one', query: 'select 1', expect: 1 }] }),
      targetsSchema.parse({ rto: '1h', rpo: '1d' }),
    );
    expect(names(phased.data)).toEqual(['sql:one']);
    expect(names(phased.targets)).toEqual(['rpo', 'rto']);
  });
});

describe('the check registry', () => {
  test('knows every kind once, and the config sections are built from it', () => {
    expect(checkKindNames).toEqual([
      'restore',
      'manifest',
      'extraFiles',
      'files',
      'bytes',
      'tables',
      'records',
      'sql',
      'commands',
      'live',
      'achievedRpo',
      'rpo',
      'rto',
    ]);
    expect(Object.keys(checksSchema.shape)).toEqual([
      'manifest',
      'extraFiles',
      'files',
      'bytes',
      'tables',
      'records',
      'sql',
      'commands',
      'live',
      'achievedRpo',
    ]);
    expect(Object.keys(targetsSchema.shape)).toEqual(['rpo', 'rto']);
  });

  test('refuses an unknown key under checks, naming it', () => {
    const parsed = checksSchema.safeParse({ filez: { min: 1 } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['filez'] });
  });
});
