/**
 * What the splitter sees in a JSON document shaped `{ "key": value, "list": [ … ] }`:
 * each top-level member, and each element of a top-level array, one at a time, with
 * the line it starts on. `error` replaces `value` when that one piece is not valid JSON.
 */
export type JsonEvent =
  | { kind: 'member'; key: string; line: number; value?: unknown; error?: string }
  | { kind: 'array'; key: string; line: number }
  | { kind: 'element'; key: string; line: number; value?: unknown; error?: string };

/** The document's structure is broken (not an object, unbalanced, truncated); stops reading. */
export class JsonStreamError extends Error {
  override readonly name = 'JsonStreamError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/** Largest single member or element kept while it is read: bounds memory on hostile input. */
export const MAX_VALUE_CHARS = 16 * 1024 * 1024;

type State =
  | 'start'
  | 'first-key'
  | 'key'
  | 'colon'
  | 'value'
  | 'first-element'
  | 'element'
  | 'after-element'
  | 'after-member'
  | 'end'
  | 'capture';
type Purpose = 'key' | 'member' | 'element';

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const BOM = 0xfeff;
/** What can change a capture's state: line breaks, quotes, escapes, brackets. */
const SPECIAL = /[\n"\\{}[\]]/g;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === CR || c === LF;
}

function describe(c: number): string {
  return JSON.stringify(String.fromCharCode(c));
}

/**
 * A push parser that splits one JSON object into its top-level members and the
 * elements of its top-level arrays, parsing each with JSON.parse. Only one member or
 * element is held at a time, so a manifest listing millions of files streams through.
 * Feed decoded text with `write` (any chunking), then call `end`.
 */
export class JsonStreamSplitter {
  private state: State = 'start';
  private line = 1;
  private key = '';
  // The piece being captured: what it is for, where it resumes, and its text so far.
  private purpose: Purpose = 'member';
  private resume: State = 'after-member';
  private captureKind: 'nested' | 'string' | 'scalar' = 'scalar';
  private nesting = 0;
  private inString = false;
  private escaped = false;
  private parts: string[] = [];
  private partChars = 0;
  private captureLine = 1;

  constructor(private readonly onEvent: (event: JsonEvent) => void) {}

  write(text: string): void {
    const n = text.length;
    let i = 0;
    let segment = 0;
    while (i < n) {
      if (this.state === 'capture') {
        const done = this.scan(text, i);
        if (done === -1) {
          this.keep(text.slice(segment));
          return;
        }
        this.finish(this.parts.join('') + text.slice(segment, done));
        i = done;
        continue;
      }
      const c = text.charCodeAt(i);
      if (isSpace(c)) {
        if (c === LF) this.line += 1;
        i += 1;
        continue;
      }
      switch (this.state) {
        case 'start':
          if (c === BOM) break;
          if (c !== OPEN_BRACE)
            throw new JsonStreamError(
              `expected a JSON object starting with '{', found ${describe(c)}`,
              this.line,
            );
          this.state = 'first-key';
          break;
        case 'first-key':
        case 'key':
          if (c === CLOSE_BRACE && this.state === 'first-key') this.state = 'end';
          else if (c === QUOTE) {
            this.begin('key', 'colon', c);
            segment = i;
          } else
            throw new JsonStreamError(`expected a quoted key, found ${describe(c)}`, this.line);
          break;
        case 'colon':
          if (c !== COLON)
            throw new JsonStreamError(
              `expected ':' after key "${this.key}", found ${describe(c)}`,
              this.line,
            );
          this.state = 'value';
          break;
        case 'value':
          if (c === OPEN_BRACKET) {
            this.onEvent({ kind: 'array', key: this.key, line: this.line });
            this.state = 'first-element';
          } else {
            this.expectValue(c);
            this.begin('member', 'after-member', c);
            segment = i;
          }
          break;
        case 'first-element':
        case 'element':
          if (c === CLOSE_BRACKET && this.state === 'first-element') this.state = 'after-member';
          else {
            this.expectValue(c);
            this.begin('element', 'after-element', c);
            segment = i;
          }
          break;
        case 'after-element':
          if (c === COMMA) this.state = 'element';
          else if (c === CLOSE_BRACKET) this.state = 'after-member';
          else
            throw new JsonStreamError(
              `expected ',' or ']' in "${this.key}", found ${describe(c)}`,
              this.line,
            );
          break;
        case 'after-member':
          if (c === COMMA) this.state = 'key';
          else if (c === CLOSE_BRACE) this.state = 'end';
          else
            throw new JsonStreamError(
              `expected ',' or '}' after "${this.key}", found ${describe(c)}`,
              this.line,
            );
          break;
        case 'end':
          throw new JsonStreamError(
            `unexpected ${describe(c)} after the end of the JSON object`,
            this.line,
          );
      }
      // A capture starts on this character: scan it in the capture branch.
      if ((this.state as State) !== 'capture') i += 1;
    }
  }

  /** Declares the input complete; throws when the document stopped short. */
  end(): void {
    if (this.state === 'capture' && this.captureKind === 'scalar') {
      this.finish(this.parts.join(''));
    }
    if (this.state !== 'end') {
      throw new JsonStreamError(
        this.state === 'start'
          ? 'empty file; expected a JSON object'
          : 'unexpected end of file; the JSON object is not closed',
        this.line,
      );
    }
  }

  private expectValue(c: number): void {
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === COLON) {
      throw new JsonStreamError(
        `expected a value${this.key ? ` for "${this.key}"` : ''}, found ${describe(c)}`,
        this.line,
      );
    }
  }

  private begin(purpose: Purpose, resume: State, c: number): void {
    this.purpose = purpose;
    this.resume = resume;
    this.state = 'capture';
    this.parts = [];
    this.partChars = 0;
    this.captureLine = this.line;
    this.escaped = false;
    this.inString = false;
    this.nesting = 0;
    this.captureKind =
      c === OPEN_BRACE || c === OPEN_BRACKET ? 'nested' : c === QUOTE ? 'string' : 'scalar';
  }

  /** Scans the capture from `i`; returns the index just past its end, or -1 when it continues in the next chunk. */
  private scan(text: string, i: number): number {
    const n = text.length;
    if (this.captureKind === 'scalar') {
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (isSpace(c) || c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) return i;
      }
      return -1;
    }
    // The first character (a quote or bracket) opens the capture.
    if (this.partChars === 0 && this.nesting === 0 && !this.inString) {
      const first = text.charCodeAt(i);
      if (first === QUOTE) this.inString = true;
      else this.nesting = 1;
      i += 1;
    }
    // An escape split across chunks: the character after it is taken as is.
    if (this.escaped && i < n) {
      if (text.charCodeAt(i) === LF) this.line += 1;
      this.escaped = false;
      i += 1;
    }
    // Jump between the only characters that matter, rather than visiting each one.
    SPECIAL.lastIndex = i;
    for (let match = SPECIAL.exec(text); match !== null; match = SPECIAL.exec(text)) {
      const at = match.index;
      const c = text.charCodeAt(at);
      if (c === LF) this.line += 1;
      else if (this.inString) {
        if (c === BACKSLASH) {
          if (at + 1 >= n) {
            this.escaped = true;
            return -1;
          }
          if (text.charCodeAt(at + 1) === LF) this.line += 1;
          SPECIAL.lastIndex = at + 2;
        } else if (c === QUOTE) {
          this.inString = false;
          if (this.captureKind === 'string') return at + 1;
        }
      } else if (c === QUOTE) this.inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) this.nesting += 1;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.nesting -= 1;
        if (this.nesting === 0) return at + 1;
      }
    }
    return -1;
  }

  private keep(text: string): void {
    this.partChars += text.length;
    if (this.partChars > MAX_VALUE_CHARS) {
      throw new JsonStreamError(
        `a single value is longer than ${MAX_VALUE_CHARS} characters`,
        this.captureLine,
      );
    }
    this.parts.push(text);
  }

  private finish(fragment: string): void {
    if (fragment.length > MAX_VALUE_CHARS) {
      throw new JsonStreamError(
        `a single value is longer than ${MAX_VALUE_CHARS} characters`,
        this.captureLine,
      );
    }
    this.parts = [];
    this.partChars = 0;
    this.state = this.resume;
    let value: unknown;
    let error: string | undefined;
    try {
      value = JSON.parse(fragment);
    } catch (cause) {
      error = `not valid JSON: ${(cause as Error).message}`;
    }
    if (this.purpose === 'key') {
      if (typeof value !== 'string')
        throw new JsonStreamError(`malformed key ${fragment.slice(0, 60)}`, this.captureLine);
      this.key = value;
      return;
    }
    const event = error === undefined ? { value } : { error };
    this.onEvent({ kind: this.purpose, key: this.key, line: this.captureLine, ...event });
  }
}
