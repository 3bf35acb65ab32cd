import { describe, expect, test } from 'vitest';
import {
  JsonStreamError,
  JsonStreamSplitter,
  MAX_VALUE_CHARS,
  type JsonEvent,
} from '../../src/manifest/json-stream.js';

function split(text: string, chunk = text.length || 1): JsonEvent[] {
  const events: JsonEvent[] = [];
  const splitter = new JsonStreamSplitter((event) => events.push(event));
  for (let at = 0; at < text.length; at += chunk) splitter.write(text.slice(at, at + chunk));
  splitter.end();
  return events;
}

const document = {
  format: 'x',
  version: 1,
  nothing: null,
  flag: true,
  meta: { nested: [1, { deep: '}' }] },
  files: [
    { path: 'a ] } { [ , : "quoted" \\ back', size: 1 },
    { path: 'ünïcode ✓', size: -2.5e3 },
    'a string element',
    42,
    [1, 2],
  ],
  empty: [],
  last: 'end',
};

const withoutLines = (events: JsonEvent[]) => events.map(({ line: _line, ...rest }) => rest);

describe('JsonStreamSplitter', () => {
  test('gives each top-level member and each element of a top-level array, compact or pretty', () => {
    const compact = split(JSON.stringify(document));
    expect(withoutLines(compact)).toEqual([
      { kind: 'member', key: 'format', value: 'x' },
      { kind: 'member', key: 'version', value: 1 },
      { kind: 'member', key: 'nothing', value: null },
      { kind: 'member', key: 'flag', value: true },
      { kind: 'member', key: 'meta', value: document.meta },
      { kind: 'array', key: 'files' },
      ...document.files.map((value) => ({ kind: 'element', key: 'files', value })),
      { kind: 'array', key: 'empty' },
      { kind: 'member', key: 'last', value: 'end' },
    ]);
    expect(withoutLines(split(JSON.stringify(document, null, 2)))).toEqual(withoutLines(compact));
  });

  test('gives the same events however the text is chunked', () => {
    const text = JSON.stringify(document, null, 1);
    const whole = split(text);
    for (const chunk of [1, 2, 3, 7, 64]) expect(split(text, chunk)).toEqual(whole);
  });

  test('reports the line each element starts on', () => {
    const text =
      '{ "version": 1,\n"files": [\n{ "path": "a" },\n\n{ "path": "b",\n  "size": 2 }\n]}\n';
    const lines = split(text).map((event) => [event.kind, event.line]);
    expect(lines).toEqual([
      ['member', 1],
      ['array', 2],
      ['element', 3],
      ['element', 5],
    ]);
  });

  test('reports an element that is not valid JSON and carries on with the next', () => {
    const events = split('{"files": [{"path": "a",}, {"path": "b"}]}');
    expect(events[1]).toMatchObject({
      kind: 'element',
      error: expect.stringContaining('not valid JSON'),
    });
    expect(events[2]).toMatchObject({ kind: 'element', value: { path: 'b' } });
  });

  test('skips a byte-order mark', () => {
    expect(split('\uFEFF{"a": 1}')).toEqual([{ kind: 'member', key: 'a', line: 1, value: 1 }]);
  });

  test.each([
    ['', 'empty file'],
    ['[1, 2]', "expected a JSON object starting with '{'"],
    ['{"files": [1, 2', 'unexpected end of file'],
    ['{"a": 1', 'unexpected end of file'],
    ['{"a": 1}\n{"b": 2}', 'after the end of the JSON object'],
    ['{"a" 1}', "expected ':'"],
    ['{"a": 1 "b": 2}', "expected ',' or '}'"],
    ['{"a": [1 2]}', "expected ',' or ']'"],
    ['{"a": ,}', 'expected a value'],
    ['{a: 1}', 'expected a quoted key'],
    ['{"a": 1,}', 'expected a quoted key'],
  ])('refuses broken structure %j with a message naming the line', (text, message) => {
    expect(() => split(text)).toThrow(JsonStreamError);
    expect(() => split(text)).toThrow(message);
    expect(() => split(text)).toThrow(/^line \d+: /);
  });

  test('names the line where the structure breaks', () => {
    expect(() => split('{\n"a": 1,\n"b": 2\n"c": 3}')).toThrow('line 4:');
  });

  test('refuses a single value longer than the limit instead of holding it', () => {
    const huge = `{"files": ["${'x'.repeat(MAX_VALUE_CHARS + 10)}"]}`;
    expect(() => split(huge, 1024 * 1024)).toThrow('longer than');
  });
});
