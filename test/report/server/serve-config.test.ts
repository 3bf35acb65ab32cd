import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../src/config/load.js';

const DRILLS = `drills:
  - name: nightly
    source: { kind: tar, path: /backups/*.tar }
`;

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'rd.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError)
      return error.problems.map(
        (problem) => `${problem.line ?? '-'} ${problem.path}: ${problem.message}`,
      );
    throw error;
  }
  return [];
}

describe('the serve section of the config', () => {
  it('is optional, and loopback on port 8470 with no credentials when given empty', () => {
    expect(parseConfig(DRILLS, 'rd.yaml', {}).config.serve).toBeUndefined();
    expect(parseConfig(`${DRILLS}serve: {}\n`, 'rd.yaml', {}).config.serve).toEqual({
      host: '127.0.0.1',
      port: 8470,
      auth: {},
    });
  });

  it('takes the token and the basic-auth password from the environment', () => {
    const text = `${DRILLS}serve:\n  host: 0.0.0.0\n  port: 9000\n  auth:\n    token: \${env:RD_WEB_TOKEN}\n    basic: { user: auditor, password: "\${env:RD_WEB_PASSWORD}" }\n`;
    const { config } = parseConfig(text, 'rd.yaml', {
      RD_WEB_TOKEN: 'a'.repeat(32),
      RD_WEB_PASSWORD: 'long enough password',
    });
    expect(config.serve).toEqual({
      host: '0.0.0.0',
      port: 9000,
      auth: { token: 'a'.repeat(32), basic: { user: 'auditor', password: 'long enough password' } },
    });
  });

  it('refuses a bad port, a short token or password, a user name with a colon and unknown keys, each with its line', () => {
    const text = `${DRILLS}serve:\n  port: 70000\n  auth:\n    token: short\n    basic: { user: "a:b", password: tiny }\n    oauth: yes\n`;
    expect(problems(text)).toEqual([
      '5 serve.port: expected a port from 0 to 65535',
      '7 serve.auth.token: expected at least 16 characters (e.g. `openssl rand -hex 32`)',
      "8 serve.auth.basic.user: expected a user name without ':'",
      '8 serve.auth.basic.password: expected at least 12 characters',
      "9 serve.auth: unknown key 'oauth'",
    ]);
  });
});
