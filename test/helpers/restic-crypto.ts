import { createCipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';

/**
 * restic's repository crypto (its doc/design.rst, internal/crypto, internal/repository/key.go),
 * enough for the tests to give their repositories a cheap key: restic's own tests use
 * low-security KDF parameters for the same reason (TestUseLowSecurityKDFParameters).
 */

/** restic's own test parameters; its validation only asks N > 1 even, r >= 1, p >= 1. */
export const LOW_SECURITY_KDF = { N: 128, r: 1, p: 1 } as const;

/** restic's salt is always 64 bytes (crypto.KDF refuses any other length). */
const SALT_LENGTH = 64;
const IV_LENGTH = 16;
const TAG_LENGTH = 16;

/** Encryption key (AES-256-CTR) plus the Poly1305-AES key: k (AES-128) and r (clamped). */
export interface ResticKey {
  encrypt: Buffer;
  macK: Buffer;
  macR: Buffer;
}

/** The JSON of a key file in `keys/` (Go field names). */
export interface ResticKeyFile {
  created: string;
  username: string;
  hostname: string;
  kdf: string;
  N: number;
  r: number;
  p: number;
  salt: string;
  data: string;
}

const P1305 = (1n << 130n) - 5n;
const MASK128 = (1n << 128n) - 1n;
const R_CLAMP = 0x0ffffffc0ffffffc0ffffffc0fffffffn;

function littleEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

/** Poly1305 (RFC 8439 §2.5) with the one-time key r ‖ s; small messages only (BigInt). */
export function poly1305(key: Uint8Array, message: Uint8Array): Buffer {
  if (key.length !== 32) throw new Error(`poly1305 key must be 32 bytes, got ${key.length}`);
  const r = littleEndian(key.subarray(0, 16)) & R_CLAMP;
  const s = littleEndian(key.subarray(16, 32));
  let accumulator = 0n;
  for (let offset = 0; offset < message.length; offset += 16) {
    const block = message.subarray(offset, offset + 16);
    accumulator =
      ((accumulator + littleEndian(block) + (1n << BigInt(8 * block.length))) * r) % P1305;
  }
  let tag = (accumulator + s) & MASK128;
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++, tag >>= 8n) out[i] = Number(tag & 0xffn);
  return out;
}

/** restic's MAC: Poly1305 keyed with r and AES-128_k(nonce), over the ciphertext only. */
function mac(key: ResticKey, nonce: Buffer, ciphertext: Buffer): Buffer {
  const aes = createCipheriv('aes-128-ecb', key.macK, null).setAutoPadding(false);
  const s = Buffer.concat([aes.update(nonce), aes.final()]);
  return poly1305(Buffer.concat([key.macR, s]), ciphertext);
}

function ctr(key: ResticKey, iv: Buffer, data: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-ctr', key.encrypt, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** IV ‖ AES-256-CTR(plaintext) ‖ MAC, as restic seals every file. */
export function seal(key: ResticKey, plaintext: Buffer): Buffer {
  const iv = randomBytes(IV_LENGTH);
  const ciphertext = ctr(key, iv, plaintext);
  return Buffer.concat([iv, ciphertext, mac(key, iv, ciphertext)]);
}

/** Checks the MAC, then decrypts; throws when the key does not fit (a wrong password). */
export function open(key: ResticKey, sealed: Buffer): Buffer {
  if (sealed.length < IV_LENGTH + TAG_LENGTH)
    throw new Error(`sealed data is ${sealed.length} bytes, shorter than IV and MAC`);
  const iv = sealed.subarray(0, IV_LENGTH);
  const ciphertext = sealed.subarray(IV_LENGTH, sealed.length - TAG_LENGTH);
  if (!mac(key, iv, ciphertext).equals(sealed.subarray(sealed.length - TAG_LENGTH)))
    throw new Error('restic ciphertext verification failed (wrong key or password)');
  return ctr(key, iv, ciphertext);
}

/** Clamps r as restic's maskKey does, so the stored key reads back as restic would keep it. */
function clampR(r: Buffer): Buffer {
  const clamped = Buffer.from(r);
  for (const i of [3, 7, 11, 15]) clamped[i]! &= 0x0f;
  for (const i of [4, 8, 12]) clamped[i]! &= 0xfc;
  return clamped;
}

function keyFromBytes(bytes: Buffer): ResticKey {
  return {
    encrypt: bytes.subarray(0, 32),
    macK: bytes.subarray(32, 48),
    macR: clampR(bytes.subarray(48, 64)),
  };
}

/** The user key: scrypt of the password into 32 bytes of AES key then k ‖ r. */
export function deriveUserKey(
  password: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): ResticKey {
  // restic's calibrated parameters (N=2^15, r=8) need 32 MiB, Node's default maxmem.
  const maxmem = 256 * params.N * params.r + 64 * 1024 * 1024;
  return keyFromBytes(scryptSync(password, salt, 64, { ...params, maxmem }));
}

/** A new random master key, as `restic init` makes one. */
export function newMasterKey(): ResticKey {
  return keyFromBytes(randomBytes(64));
}

/** The master key from a key file's JSON, opened with the password. */
export function openKeyFile(file: ResticKeyFile, password: string): ResticKey {
  if (file.kdf !== 'scrypt') throw new Error(`key file kdf is '${file.kdf}', expected 'scrypt'`);
  const user = deriveUserKey(password, Buffer.from(file.salt, 'base64'), file);
  const master = JSON.parse(open(user, Buffer.from(file.data, 'base64')).toString('utf8')) as {
    mac: { k: string; r: string };
    encrypt: string;
  };
  return {
    encrypt: Buffer.from(master.encrypt, 'base64'),
    macK: Buffer.from(master.mac.k, 'base64'),
    macR: Buffer.from(master.mac.r, 'base64'),
  };
}

/**
 * A key file holding `master` under `password` with the given KDF parameters, and its
 * name: restic names a key file by the SHA-256 of its bytes.
 */
export function sealKeyFile(
  master: ResticKey,
  password: string,
  params: { N: number; r: number; p: number },
  owner: { username: string; hostname: string },
): { name: string; bytes: Buffer } {
  const salt = randomBytes(SALT_LENGTH);
  const user = deriveUserKey(password, salt, params);
  const masterJson = JSON.stringify({
    mac: { k: master.macK.toString('base64'), r: master.macR.toString('base64') },
    encrypt: master.encrypt.toString('base64'),
  });
  const file: ResticKeyFile = {
    created: new Date().toISOString(),
    username: owner.username,
    hostname: owner.hostname,
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt: salt.toString('base64'),
    data: seal(user, Buffer.from(masterJson)).toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(file));
  return { name: createHash('sha256').update(bytes).digest('hex'), bytes };
}
