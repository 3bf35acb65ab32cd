import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

const dir = fileURLToPath(new URL('../../config/examples/', import.meta.url));
const env = {
  RESTORE_DRILL_DATABASE_URL: 'postgres://drill@db.internal/evidence',
  S3_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE',
  S3_SECRET_ACCESS_KEY: 'example-secret-key',
  RESTIC_PASSWORD: 'example-password',
  PGPASSWORD: 'example-password',
  RD_WEB_TOKEN: 'example-web-token',
  SLACK_WEBHOOK_URL: 'https://hooks.example.invalid/services/T000/B000/XXXX',
  SMTP_PASSWORD: 'example-smtp-password',
};

describe('example configs in config/examples/', () => {
  const files = readdirSync(dir).filter((file) => file.endsWith('.yaml'));

  it('has examples', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s is valid', async (file) => {
    const loaded = await loadConfig(`${dir}${file}`, env);
    expect(loaded.config.drills.length).toBeGreaterThan(0);
  });
});
