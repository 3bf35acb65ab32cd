import { encodeFileName, printable } from '../model/file-name.js';
import { excerpt, ManifestBuilder, type Manifest } from './manifest.js';
import { readLines } from '../model/read-lines.js';

/** One line of `sha256sum` output, understood: an entry, a blank line, or why it is malformed. */
export type Sha256sumLine =
  | { kind: 'entry'; path: string; sha256: string }
  | { kind: 'blank' }
  | { kind: 'malformed'; message: string };

const HEX64 = /^[0-9a-fA-F]{64}$/;
const OTHER_DIGESTS: Record<number, string> = {
  32: 'MD5',
  40: 'SHA-1',
  56: 'SHA-224',
  96: 'SHA-384',
  128: 'SHA-512',
};

/** Undoes GNU coreutils' escaping of names (`\\`, `\n`, `\r`); null for any other escape. */
function unescapeName(name: string): string | null {
  if (!name.includes('\\')) return name;
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = name[++i];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else if (next === 'r') out += '\r';
    else return null;
  }
  return out;
}

function digestHint(hex: string): string {
  const other = OTHER_DIGESTS[hex.length];
  return other ? ` (this looks like ${other})` : '';
}

/**
 * Parses one line as GNU `sha256sum` writes it: `<64 hex>  <name>` (text mode),
 * `<64 hex> *<name>` (binary mode) or `SHA256 (<name>) = <64 hex>` (`--tag`); a
 * leading `\` means the name has `\\`, `\n` and `\r` escapes. Names are bytes
 * (sha256sum writes them raw, UTF-8 or not): the path returned is in the escaped form
 * of `model/file-name.ts`, so it matches the restored file byte for byte.
 */
export function parseSha256sumLine(line: string | Buffer): Sha256sumLine {
  // One character per byte: the syntax is ASCII, and the name's bytes come back exactly.
  const bytes = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  let rest = bytes.toString('latin1').replace(/^[ \t]+/, '');
  if (rest.length === 0) return { kind: 'blank' };
  const escaped = rest.startsWith('\\');
  if (escaped) rest = rest.slice(1);
  let name: string;
  let hex: string;
  if (rest.startsWith('SHA256 (')) {
    const close = rest.lastIndexOf(') = ');
    if (close < 'SHA256 ('.length)
      return { kind: 'malformed', message: "expected 'SHA256 (<name>) = <64 hex digits>'" };
    name = rest.slice('SHA256 ('.length, close);
    hex = rest.slice(close + 4);
  } else {
    const space = rest.indexOf(' ');
    hex = space === -1 ? rest : rest.slice(0, space);
    if (!/^[0-9a-fA-F]+$/.test(hex)) {
      const json = /^[{["]/.test(rest)
        ? ' (this looks like JSON: is the format backup_manifest or restore-drill?)'
        : '';
      return { kind: 'malformed', message: `expected '<64 hex digits>  <name>'${json}` };
    }
    if (space === -1) return { kind: 'malformed', message: 'no file name after the checksum' };
    // GNU: one space, then an optional second space (text) or '*' (binary), then the name.
    name = rest.slice(space + 1);
    if (name.startsWith(' ') || name.startsWith('*')) name = name.slice(1);
  }
  if (!HEX64.test(hex))
    return {
      kind: 'malformed',
      message: `expected a SHA-256 of 64 hex digits, got ${hex.length} characters${digestHint(hex)}`,
    };
  if (name.length === 0) return { kind: 'malformed', message: 'no file name after the checksum' };
  if (escaped) {
    const unescaped = unescapeName(name);
    if (unescaped === null)
      return {
        kind: 'malformed',
        message: "unknown escape in an escaped name; expected only '\\\\', '\\n' or '\\r'",
      };
    name = unescaped;
  }
  return {
    kind: 'entry',
    path: encodeFileName(Buffer.from(name, 'latin1')),
    sha256: hex.toLowerCase(),
  };
}

/** The UTF-8 byte order mark Windows editors and PowerShell put before a file's text. */
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function withoutBom(bytes: Buffer): Buffer {
  return bytes.subarray(0, 3).equals(UTF8_BOM) ? bytes.subarray(3) : bytes;
}

/**
 * Reads a `sha256sum` manifest line by line (CRLF tolerated, blank lines skipped, a
 * leading UTF-8 byte order mark ignored).
 * Malformed lines and unsafe paths become problems naming their line.
 */
export async function parseSha256sumManifest(
  path: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<Manifest> {
  const builder = new ManifestBuilder('sha256sum');
  for await (const line of readLines(path, options)) {
    if (line.tooLong) {
      builder.problem({
        line: line.number,
        problem: 'malformed',
        item: excerpt(printable(line.text), 60),
        message: 'line longer than 64 KiB',
      });
      continue;
    }
    const parsed = parseSha256sumLine(line.number === 1 ? withoutBom(line.bytes) : line.bytes);
    if (parsed.kind === 'blank') continue;
    if (parsed.kind === 'malformed') {
      builder.problem({
        line: line.number,
        problem: 'malformed',
        item: excerpt(printable(line.text), 60),
        message: parsed.message,
      });
      continue;
    }
    builder.addFile(parsed.path, { line: line.number, sha256: parsed.sha256 });
  }
  return builder.build();
}
