import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { HASH_CHUNK_BYTES } from './hash-file.js';
import { JsonStreamError, JsonStreamSplitter, type JsonEvent } from './json-stream.js';
import { ManifestReadError } from './manifest.js';

/**
 * Streams a JSON manifest through the splitter, handing each member or array element
 * to `onEvent` and each raw chunk to `onBytes` (for a checksum over the file's bytes).
 * Structural breakage becomes a ManifestReadError naming the line.
 */
export async function readJsonManifest(
  path: string,
  onEvent: (event: JsonEvent) => void,
  options: { signal?: AbortSignal | undefined; onBytes?: (chunk: Buffer) => void } = {},
): Promise<void> {
  const splitter = new JsonStreamSplitter(onEvent);
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of createReadStream(path, {
      highWaterMark: HASH_CHUNK_BYTES,
      signal: options.signal,
    }) as AsyncIterable<Buffer>) {
      options.onBytes?.(chunk);
      splitter.write(decoder.write(chunk));
    }
    splitter.write(decoder.end());
    splitter.end();
  } catch (error) {
    if (error instanceof JsonStreamError)
      throw new ManifestReadError(`not valid JSON at ${error.message}`);
    throw error;
  }
}
