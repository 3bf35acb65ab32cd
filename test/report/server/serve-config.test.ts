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

  it('takes reviewers with a password or a token from the environment', () => {
    const text = `${DRILLS}serve:\n  auth:\n    token: \${env:RD_WEB_TOKEN}\n    reviewers:\n      - { user: alice, password: "\${env:ALICE_PW}" }\n      - { user: bob, token: "\${env:BOB_TOKEN}" }\n`;
    const { config } = parseConfig(text, 'rd.yaml', {
      RD_WEB_TOKEN: 'a'.repeat(32),
      ALICE_PW: 'alice password long',
      BOB_TOKEN: 'b'.repeat(20),
    });
    expect(config.serve?.auth.reviewers).toEqual([
      { user: 'alice', password: 'alice password long' },
      { user: 'bob', token: 'b'.repeat(20) },
    ]);
  });

  it('refuses a reviewer with both or neither secret, a short one, a name listed twice, each with its line', () => {
    const text = `${DRILLS}serve:\n  auth:\n    reviewers:\n      - { user: alice, password: "long enough pw", token: "${'t'.repeat(16)}" }\n      - { user: bob }\n      - { user: carol, password: short }\n      - { user: bob, token: "${'t'.repeat(16)}" }\n`;
    expect(problems(text)).toEqual([
      '7 serve.auth.reviewers[0]: expected either password or token (one of the two)',
      '8 serve.auth.reviewers[1]: expected either password or token (one of the two)',
      '9 serve.auth.reviewers[2].password: expected at least 12 characters',
      "10 serve.auth.reviewers[3].user: 'bob' is listed twice; expected each reviewer once",
    ]);
  });
});
