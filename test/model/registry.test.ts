import { describe, expect, test } from 'vitest';
import { KindRegistry } from '../../src/model/registry.js';

describe('KindRegistry', () => {
  test('finds a kind by name and lists names in registration order', () => {
    const registry = new KindRegistry('source', [{ kind: 'tar' }, { kind: 's3' }]);
    expect(registry.names).toEqual(['tar', 's3']);
    expect(registry.get('s3')).toEqual({ kind: 's3' });
  });

  test('refuses a kind registered twice', () => {
    expect(() => new KindRegistry('check', [{ kind: 'files' }, { kind: 'files' }])).toThrow(
      "check kind 'files' is registered twice",
    );
  });

  test('names the known kinds when asked for an unknown one', () => {
    const registry = new KindRegistry('channel', [{ kind: 'webhook' }, { kind: 'email' }]);
    expect(() => registry.get('ftp')).toThrow(
      "'ftp' is not a channel kind; expected one of 'webhook', 'email'",
    );
  });
});
