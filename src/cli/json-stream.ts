import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** A member of the object `writeJsonObject` prints: a value, or an array given as a stream of items. */
export type JsonMember = readonly [key: string, value: unknown];

const FLUSH_CHARS = 64 * 1024;

/** `source`'s items through `fn`, lazily. */
export async function* mapItems<T, U>(
  source: AsyncIterable<T>,
  fn: (item: T) => U,
): AsyncGenerator<U> {
  for await (const item of source) yield fn(item);
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** `JSON.stringify(value, null, 2)` for a value nested `depth` levels deep. */
function nested(value: unknown, depth: number): string {
  return JSON.stringify(value, null, 2).replaceAll('\n', `\n${'  '.repeat(depth)}`);
}

/**
 * Writes the object of `members` to `out` exactly as `JSON.stringify(object, null, 2)`
 * and a newline would, but an async-iterable member is written item by item as an
 * array, honouring backpressure: memory holds one item, not the whole array.
 */
export async function writeJsonObject(
  out: Writable,
  members: readonly JsonMember[],
): Promise<void> {
  let buffer = '';
  const write = async (text: string, flush = false): Promise<void> => {
    buffer += text;
    if (buffer.length < FLUSH_CHARS && !flush) return;
    const chunk = buffer;
    buffer = '';
    if (!out.write(chunk)) await once(out, 'drain');
  };
  await write('{');
  let first = true;
  for (const [key, value] of members) {
    await write(`${first ? '' : ','}\n  ${JSON.stringify(key)}: `);
    first = false;
    if (!isAsyncIterable(value)) {
      await write(nested(value, 1));
      continue;
    }
    let items = 0;
    for await (const item of value) {
      await write(`${items === 0 ? '[' : ','}\n    ${nested(item, 2)}`);
      items += 1;
    }
    await write(items === 0 ? '[]' : '\n  ]');
  }
  await write(first ? '}\n' : '\n}\n', true);
}
