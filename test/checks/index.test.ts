import { describe, expect, test } from 'vitest';
import { buildChecks } from '../../src/checks/index.js';
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
