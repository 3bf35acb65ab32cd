import path from 'node:path';

/**
 * File names are bytes (Linux allows any byte but `/` and NUL); evidence, manifests and
 * reports hold them as text in one reversible escaped form (docs/file-names.md):
 *
 * - valid UTF-8 is kept as is, except the characters below;
 * - `\` is written `\\`; newline, tab and carriage return `\n`, `\t`, `\r`;
 * - every other control character (C0, DEL, C1), the line and paragraph separators and
 *   the bidirectional controls are written byte by byte as `\xHH` (lower-case hex);
 * - each byte that is not part of valid UTF-8 is written `\xHH`.
 *
 * So an escaped name never holds a control character or a newline, prints safely
 * anywhere, and an ordinary name (no backslash, nothing above) is unchanged.
 */

/** Bytes that need no thought: printable ASCII except the backslash. */
function isPlainByte(byte: number): boolean {
  return byte >= 0x20 && byte < 0x7f && byte !== 0x5c;
}

/** Code points written as `\xHH` of their UTF-8 bytes though they are valid UTF-8. */
function isUnsafeCodePoint(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

const HEX = '0123456789abcdef';
function hexByte(byte: number): string {
  return `\\x${HEX[byte >> 4]}${HEX[byte & 15]}`;
}

/** Length of the well-formed UTF-8 sequence starting at `i` (1–4), or 0 when the byte there starts none. */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const first = bytes[i] as number;
  if (first < 0x80) return 1;
  let length: number;
  let min: number;
  let code: number;
  if (first >= 0xc2 && first <= 0xdf) [length, min, code] = [2, 0x80, first & 0x1f];
  else if (first >= 0xe0 && first <= 0xef) [length, min, code] = [3, 0x800, first & 0x0f];
  else if (first >= 0xf0 && first <= 0xf4) [length, min, code] = [4, 0x10000, first & 0x07];
  else return 0;
  if (i + length > bytes.length) return 0;
  for (let k = 1; k < length; k++) {
    const next = bytes[i + k] as number;
    if ((next & 0xc0) !== 0x80) return 0;
    code = (code << 6) | (next & 0x3f);
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not valid UTF-8.
  if (code < min || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return 0;
  return length;
}

/** The escaped form of a name's bytes (a component or a `/`-joined path). */
export function encodeFileName(bytes: Uint8Array): string {
  let plain = true;
  for (const byte of bytes)
    if (!isPlainByte(byte)) {
      plain = false;
      break;
    }
  if (plain)
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const byte = bytes[i] as number;
    if (isPlainByte(byte)) {
      out += String.fromCharCode(byte);
      i++;
      continue;
    }
    if (byte === 0x5c) out += '\\\\';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x09) out += '\\t';
    else if (byte === 0x0d) out += '\\r';
    else {
      const length = utf8SequenceLength(bytes, i);
      if (length === 0 || length === 1) {
        out += hexByte(byte);
        i++;
        continue;
      }
      const sequence = bytes.subarray(i, i + length);
      const text = Buffer.from(sequence).toString('utf8');
      if (isUnsafeCodePoint(text.codePointAt(0) as number))
        for (const unsafe of sequence) out += hexByte(unsafe);
      else out += text;
      i += length;
      continue;
    }
    i++;
  }
  return out;
}

/** A name's escaped form as given by the file system (`readdir` or `readlink` with `encoding: 'buffer'`). */
export function fileNameOf(name: Buffer | string): string {
  return encodeFileName(typeof name === 'string' ? Buffer.from(name, 'utf8') : name);
}

/** Thrown for text that is not in the escaped form (an unknown or cut-off escape). */
export class FileNameSyntaxError extends Error {
  override readonly name = 'FileNameSyntaxError';
}

/**
 * The bytes an escaped name stands for. Throws `FileNameSyntaxError` for a backslash not
 * followed by `\`, `n`, `t`, `r` or `xHH`.
 */
export function decodeFileName(escaped: string): Buffer {
  if (!escaped.includes('\\')) return Buffer.from(escaped, 'utf8');
  const bytes: number[] = [];
  let text = '';
  const flush = (): void => {
    if (text === '') return;
    for (const byte of Buffer.from(text, 'utf8')) bytes.push(byte);
    text = '';
  };
  for (let i = 0; i < escaped.length; i++) {
    const c = escaped[i] as string;
    if (c !== '\\') {
      text += c;
      continue;
    }
    flush();
    const next = escaped[++i];
    if (next === '\\') bytes.push(0x5c);
    else if (next === 'n') bytes.push(0x0a);
    else if (next === 't') bytes.push(0x09);
    else if (next === 'r') bytes.push(0x0d);
    else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(escaped.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(escaped.slice(i + 1, i + 3), 16));
      i += 2;
    } else
      throw new FileNameSyntaxError(
        next === undefined
          ? 'ends with a lone backslash'
          : `unknown escape '\\${next}'; expected '\\\\', '\\n', '\\t', '\\r' or '\\xHH'`,
      );
  }
  flush();
  return Buffer.from(bytes);
}

/** The canonical escaped form of text in the escaped form (`\x41` becomes `A`); throws `FileNameSyntaxError`. */
export function canonicalFileName(escaped: string): string {
  if (!escaped.includes('\\') && !hasUnsafeCharacter(escaped)) return escaped;
  return encodeFileName(decodeFileName(escaped));
}

/** True when text holds a character the escaped form never shows raw (a control character, say). */
function hasUnsafeCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
    if (code >= 0x200e && code <= 0x2069 && isUnsafeCodePoint(code)) return true;
    // A lone surrogate has no UTF-8 form: re-encoding shows what it became.
    if (code >= 0xd800 && code <= 0xdfff) return true;
  }
  return false;
}

/**
 * The path the file system takes for `rel` (an escaped, `/`-separated path) under
 * `root`: a string when the name's bytes are its UTF-8 text, else a Buffer of the bytes.
 */
export function fsPath(root: string, rel: string): string | Buffer {
  if (rel === '') return root;
  if (!rel.includes('\\')) return path.join(root, rel);
  return Buffer.concat([Buffer.from(`${root}/`, 'utf8'), decodeFileName(rel)]);
}

/**
 * Text safe to print for any string (a message that may hold a name taken raw):
 * control characters, separators and bidirectional controls become escapes, as in the
 * escaped form, and a backslash is kept as it is so ordinary text reads unchanged.
 */
export function printable(text: string): string {
  if (!hasUnsafeCharacter(text)) return text;
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (code === 0x0a) out += '\\n';
    else if (code === 0x09) out += '\\t';
    else if (code === 0x0d) out += '\\r';
    else if (isUnsafeCodePoint(code) || (code >= 0xd800 && code <= 0xdfff))
      for (const byte of Buffer.from(char, 'utf8')) out += hexByte(byte);
    else out += char;
  }
  return out;
}
