import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import {
  LOW_SECURITY_KDF,
  newMasterKey,
  open,
  openKeyFile,
  poly1305,
  seal,
  type ResticKeyFile,
} from './restic-crypto.js';
import {
  createResticRepo,
  resticEnv,
  TEST_RESTIC_PASSWORD,
  type ResticRepo,
} from './restic-repo.js';
import { tempDir } from './temp.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

describe('poly1305 (RFC 8439 vectors)', () => {
  it('tags the §2.5.2 example', () => {
    const key = hex('85d6be7857556d337f4452fe42d506a8 0103808afb0db2fd4abff6af4149f51b');
    expect(poly1305(key, Buffer.from('Cryptographic Forum Research Group')).toString('hex')).toBe(
      'a8061dc1305136c6c22b8baf0c0127a9',
    );
  });

  it('reduces modulo 2^130-5 (appendix A.3 #5) and wraps s at 2^128 (#6)', () => {
    const r2 = '02000000000000000000000000000000';
    const ones = 'ffffffffffffffffffffffffffffffff';
    expect(poly1305(hex(r2 + '00'.repeat(16)), hex(ones)).toString('hex')).toBe(
      '03000000000000000000000000000000',
    );
    expect(poly1305(hex(r2 + ones), hex(r2)).toString('hex')).toBe(
      '03000000000000000000000000000000',
    );
  });

  it('tags an all-zero key and message with zeros (appendix A.3 #1)', () => {
    expect(poly1305(Buffer.alloc(32), Buffer.alloc(64)).equals(Buffer.alloc(16))).toBe(true);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => poly1305(Buffer.alloc(16), Buffer.alloc(1))).toThrow(
      'poly1305 key must be 32 bytes, got 16',
    );
  });
});

describe('restic sealing', () => {
  it('opens what it sealed, and refuses a flipped byte or another key', () => {
    const key = newMasterKey();
    const sealed = seal(key, Buffer.from('{"version":2}'));
    expect(open(key, sealed).toString()).toBe('{"version":2}');
    const flipped = Buffer.from(sealed);
    flipped[20]! ^= 1;
    expect(() => open(key, flipped)).toThrow('restic ciphertext verification failed');
    expect(() => open(newMasterKey(), sealed)).toThrow('restic ciphertext verification failed');
    expect(() => open(key, sealed.subarray(0, 31))).toThrow(
      'sealed data is 31 bytes, shorter than IV and MAC',
    );
  });
});

describe('createResticRepo (a copy of the run template with a cheap key)', () => {
  let first: ResticRepo;
  let second: ResticRepo;

  beforeAll(async () => {
    [first, second] = await Promise.all([createResticRepo(), createResticRepo()]);
  });
  afterAll(async () => {
    await Promise.all([first.cleanup(), second.cleanup()]);
  });

  async function keyFileOf(repo: ResticRepo): Promise<ResticKeyFile> {
    const keys = await readdir(path.join(repo.repository, 'keys'));
    expect(keys).toHaveLength(1);
    return JSON.parse(
      await readFile(path.join(repo.repository, 'keys', keys[0]!), 'utf8'),
    ) as ResticKeyFile;
  }

  it('holds one low-security key that real restic opens, backs up into and checks', async () => {
    const keyFile = await keyFileOf(first);
    expect({ N: keyFile.N, r: keyFile.r, p: keyFile.p }).toEqual(LOW_SECURITY_KDF);
    const data = await tempDir();
    await writeFile(path.join(data, 'a.txt'), 'alpha\n');
    const short = await first.backup(['.'], { cwd: data });
    expect([...(await first.fullIds()).keys()]).toEqual([short]);
    const check = await first.restic(['check', '--read-data']);
    expect(check.stdout).toContain('no errors were found');
  });

  it('gives each copy its own repository id and master key', async () => {
    const config = async (repo: ResticRepo): Promise<{ id: string; version: number }> =>
      JSON.parse((await repo.restic(['cat', 'config'])).stdout) as { id: string; version: number };
    const [one, two] = await Promise.all([config(first), config(second)]);
    expect(one.id).toMatch(/^[0-9a-f]{64}$/);
    expect(two.id).not.toBe(one.id);
    expect(two.version).toBe(one.version);
    const [keyOne, keyTwo] = await Promise.all([keyFileOf(first), keyFileOf(second)]);
    const masterOne = openKeyFile(keyOne, TEST_RESTIC_PASSWORD);
    expect(masterOne.encrypt.equals(openKeyFile(keyTwo, TEST_RESTIC_PASSWORD).encrypt)).toBe(false);
  });

  it('refuses a wrong password, as restic does', async () => {
    const keyFile = await keyFileOf(second);
    expect(() => openKeyFile(keyFile, 'not-the-password')).toThrow(
      'restic ciphertext verification failed',
    );
    const result = await runCommand('restic', ['snapshots'], {
      env: {
        ...resticEnv(second.repository, second.cacheDir),
        RESTIC_PASSWORD: 'not-the-password',
      },
      input: '',
      timeoutMs: 60_000,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderrTail).toContain('wrong password');
  });
});
