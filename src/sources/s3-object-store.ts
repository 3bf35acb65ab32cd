import type { Readable } from 'node:stream';
import type { GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { redactor } from '../model/redact.js';
import {
  ObjectStoreError,
  type GetRequest,
  type ListPage,
  type ListRequest,
  type ObjectDownload,
  type ObjectStore,
  type ObjectStoreErrorKind,
  type StoredChecksumAlgorithm,
  type StoredObject,
} from './object-store.js';

/** How to reach one bucket. */
export interface S3ObjectStoreOptions {
  bucket: string;
  /** Any S3-compatible endpoint; AWS's own when absent. */
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** Static credentials; the standard AWS chain (env, profile, SSO, IMDS…) when absent. */
  credentials?:
    { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
  checksums?:
    | { request: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'; response: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED' }
    | undefined;
  /** A request that cannot connect, answer or send data for this long fails as transient. */
  timeoutMs: number;
  /** Keys per listing page (S3's maximum is 1000). */
  pageSize?: number | undefined;
}

/** An `ObjectStore` over the AWS SDK, plus `destroy()` to close its sockets. */
export interface S3ObjectStore extends ObjectStore {
  destroy(): void;
}

const CHECKSUM_FIELDS: readonly [StoredChecksumAlgorithm, keyof GetObjectCommandOutput][] = [
  ['CRC32', 'ChecksumCRC32'],
  ['CRC32C', 'ChecksumCRC32C'],
  ['CRC64NVME', 'ChecksumCRC64NVME'],
  ['SHA1', 'ChecksumSHA1'],
  ['SHA256', 'ChecksumSHA256'],
];

type S3Sdk = typeof import('@aws-sdk/client-s3');
let sdkLoading: Promise<S3Sdk> | undefined;
/** The SDK takes a few hundred ms to import: only a command that talks to S3 pays for it. */
const loadSdk = (): Promise<S3Sdk> => (sdkLoading ??= import('@aws-sdk/client-s3'));

/** Creates the store; no request is made (and the SDK is not loaded) until it is used. */
export function createS3ObjectStore(options: S3ObjectStoreOptions): S3ObjectStore {
  let client: S3Client | undefined;
  let destroyed = false;
  const connect = async (): Promise<{ client: S3Client; sdk: S3Sdk }> => {
    const sdk = await loadSdk();
    if (destroyed) throw new ObjectStoreError('permanent', 'Destroyed', 'the store was closed');
    client ??= createClient(sdk, options);
    return { client, sdk };
  };
  const bucket = options.bucket;
  const send = async <T>(run: (s3: { client: S3Client; sdk: S3Sdk }) => Promise<T>): Promise<T> => {
    try {
      return await run(await connect());
    } catch (error) {
      throw toStoreError(error);
    }
  };

  /** Part sizes from `HEAD ?partNumber=N`, which answers with that part's length and the object's part count. */
  const headPartSizes = async (
    key: string,
    parts: number,
    signal: AbortSignal | undefined,
  ): Promise<number[] | null> => {
    if (parts < 1 || parts > MAX_PARTS) return null;
    const sizes: number[] = [];
    for (let part = 1; part <= parts; part++) {
      try {
        const out = await send(({ client, sdk }) =>
          client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key, PartNumber: part }), {
            abortSignal: signal,
          }),
        );
        // A store that ignores partNumber answers for the whole object, without a part count.
        if (out.PartsCount !== parts || out.ContentLength === undefined) return null;
        sizes.push(out.ContentLength);
      } catch (error) {
        const failure = toStoreError(error);
        if (failure.kind === 'aborted' || failure.kind === 'transient') throw failure;
        return null;
      }
    }
    return sizes;
  };

  return {
    location: `s3://${bucket}`,

    async list(request: ListRequest): Promise<ListPage> {
      const out = await send(({ client, sdk }) =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: bucket,
            Prefix: request.prefix,
            Delimiter: request.delimiter,
            ContinuationToken: request.continuationToken,
            MaxKeys: options.pageSize,
          }),
          { abortSignal: request.signal },
        ),
      );
      return {
        objects: (out.Contents ?? []).flatMap((item) =>
          item.Key === undefined
            ? []
            : [
                {
                  key: item.Key,
                  size: item.Size ?? 0,
                  etag: unquote(item.ETag),
                  lastModified: item.LastModified ?? null,
                },
              ],
        ),
        prefixes: (out.CommonPrefixes ?? []).flatMap((item) =>
          item.Prefix === undefined ? [] : [item.Prefix],
        ),
        // Some stores set the token without IsTruncated; trust either.
        nextToken:
          out.IsTruncated || out.NextContinuationToken
            ? (out.NextContinuationToken ?? undefined)
            : undefined,
      };
    },

    async head(key: string, { signal }): Promise<StoredObject> {
      const out = await send(({ client, sdk }) =>
        client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }), {
          abortSignal: signal,
        }),
      );
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: unquote(out.ETag),
        lastModified: out.LastModified ?? null,
      };
    },

    async get(key: string, request: GetRequest): Promise<ObjectDownload> {
      const out = await send(({ client, sdk }) =>
        client.send(
          new sdk.GetObjectCommand({
            Bucket: bucket,
            Key: key,
            ...(request.ifMatch ? { IfMatch: `"${request.ifMatch}"` } : {}),
            // Asks S3 for the checksums it stored; the SDK then verifies a full-object one while streaming.
            ChecksumMode: 'ENABLED',
          }),
          { abortSignal: request.signal },
        ),
      );
      const body = out.Body as Readable | undefined;
      if (!body)
        throw new ObjectStoreError('transient', 'NoBody', 'the store answered without a body');
      const checksums: ObjectDownload['checksums'] = {};
      for (const [algorithm, field] of CHECKSUM_FIELDS) {
        const value = out[field];
        if (typeof value === 'string' && value !== '') checksums[algorithm] = value;
      }
      const checksumType =
        out.ChecksumType === 'FULL_OBJECT' || out.ChecksumType === 'COMPOSITE'
          ? out.ChecksumType
          : null;
      return {
        etag: unquote(out.ETag),
        contentLength: out.ContentLength ?? null,
        checksums,
        checksumType,
        etagIsNotMd5:
          out.SSECustomerAlgorithm !== undefined ||
          (out.ServerSideEncryption ?? '').startsWith('aws:kms'),
        body: translateErrors(body),
        discard: () => body.destroy(),
      };
    },

    async partSizes(key: string, { parts, signal }): Promise<number[] | null> {
      try {
        const sizes: number[] = [];
        let marker: string | undefined;
        do {
          const out = await send(({ client, sdk }) =>
            client.send(
              new sdk.GetObjectAttributesCommand({
                Bucket: bucket,
                Key: key,
                ObjectAttributes: ['ObjectParts'],
                MaxParts: 1000,
                PartNumberMarker: marker,
              }),
              { abortSignal: signal },
            ),
          );
          for (const part of out.ObjectParts?.Parts ?? []) {
            if (part.PartNumber !== sizes.length + 1 || part.Size === undefined) break;
            sizes.push(part.Size);
          }
          marker = out.ObjectParts?.IsTruncated ? out.ObjectParts.NextPartNumberMarker : undefined;
        } while (marker !== undefined && sizes.length < parts);
        if (sizes.length === parts) return sizes;
      } catch (error) {
        // Many S3-compatible stores lack GetObjectAttributes, and AWS lists parts only for objects uploaded with checksums.
        const failure = toStoreError(error);
        if (failure.kind === 'aborted' || failure.kind === 'transient') throw failure;
      }
      return headPartSizes(key, parts, signal);
    },

    destroy() {
      destroyed = true;
      client?.destroy();
    },
  };
}

/** S3 allows at most this many parts; a larger count is not a real multipart ETag. */
const MAX_PARTS = 10_000;

function createClient(sdk: S3Sdk, options: S3ObjectStoreOptions): S3Client {
  return new sdk.S3Client({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle,
    // A copy: the SDK writes bookkeeping fields into the object it is given.
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
    ...(options.checksums
      ? {
          requestChecksumCalculation: options.checksums.request,
          responseChecksumValidation: options.checksums.response,
        }
      : {}),
    // One retry policy, ours: it also covers a body that fails half-way, which the SDK's cannot.
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: options.timeoutMs,
      requestTimeout: options.timeoutMs,
      throwOnRequestTimeout: true,
      // Idle time on the socket: catches a body that stops arriving after the headers.
      socketTimeout: options.timeoutMs,
    },
  });
}

async function* translateErrors(body: Readable): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk as Uint8Array;
  } catch (error) {
    throw toStoreError(error);
  } finally {
    body.destroy();
  }
}

function unquote(etag: string | undefined): string | null {
  if (!etag) return null;
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'RequestTimeout',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'OperationAborted',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'NoBody',
]);

/** What a permanent code means, for a person. */
const PERMANENT_MEANING: Record<string, string> = {
  NoSuchBucket: 'bucket does not exist',
  AccessDenied: 'access denied',
  AllAccessDisabled: 'access to the bucket is disabled',
  InvalidAccessKeyId: 'the access key id is not known to the store',
  SignatureDoesNotMatch: 'the secret key does not match the access key id',
  ExpiredToken: 'the session token has expired',
  InvalidToken: 'the session token is invalid',
  TokenRefreshRequired: 'the session token must be refreshed',
  PermanentRedirect:
    'the bucket is in another region or needs another endpoint (set region / endpoint)',
  AuthorizationHeaderMalformed: 'the request was signed for the wrong region (set region)',
  InvalidBucketName: 'the bucket name is not valid for this store',
  CredentialsProviderError:
    'no credentials: none in the config and none found by the standard AWS chain',
  ENOTFOUND: 'the endpoint host name does not resolve',
  InvalidObjectState: 'the object is archived (Glacier / Deep Archive) and must be restored first',
};

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** Classifies any error from the SDK, the socket or a body stream, once. */
export function toStoreError(error: unknown): ObjectStoreError {
  if (error instanceof ObjectStoreError) return error;
  const e = (error ?? {}) as SdkLikeError;
  const status = e.$metadata?.httpStatusCode;
  const rawMessage = typeof e.message === 'string' ? e.message : String(error);
  // Errno codes (ECONNRESET) sit on `code`; S3 codes on `Code` or the error's name.
  let code =
    (typeof e.code === 'string' && e.code) ||
    e.Code ||
    (e.name && e.name !== 'Error' ? e.name : '') ||
    (status ? `HTTP${status}` : 'Error');
  const kind = classify(code, status, e, rawMessage);
  // A HEAD has no body to carry S3's code: name a missing object the way GET does.
  if (kind === 'not-found') code = 'NoSuchKey';
  const meaning = describe(
    kind,
    e.name === 'TimeoutError' ? 'TimeoutError' : code,
    status,
    rawMessage,
  );
  const checksum = kind === 'checksum-mismatch' ? parseChecksumMismatch(rawMessage) : undefined;
  return new ObjectStoreError(
    kind,
    code,
    `${meaning} (${code})`,
    { status, ...(checksum ? { checksum } : {}) },
    { cause: error },
  );
}

function classify(
  code: string,
  status: number | undefined,
  e: SdkLikeError,
  message: string,
): ObjectStoreErrorKind {
  if (code === 'AbortError' || e.name === 'AbortError') return 'aborted';
  if (message.startsWith('Checksum mismatch')) return 'checksum-mismatch';
  if (
    code === 'NoSuchKey' ||
    (status === 404 && code !== 'NoSuchBucket' && (code === 'NotFound' || code === 'HTTP404'))
  )
    return 'not-found';
  if (code === 'PreconditionFailed' || status === 412) return 'changed';
  if (TRANSIENT_CODES.has(code) || (status !== undefined && TRANSIENT_STATUS.has(status)))
    return 'transient';
  // Node's IncomingMessage reports a cut-off body as a plain 'aborted' error.
  if (/^(aborted|socket hang up)$|^Connection lost or stream closed/i.test(message))
    return 'transient';
  if (e.$retryable && code !== 'CredentialsProviderError') return 'transient';
  return 'permanent';
}

function describe(
  kind: ObjectStoreErrorKind,
  code: string,
  status: number | undefined,
  message: string,
): string {
  switch (kind) {
    case 'aborted':
      return 'aborted';
    case 'not-found':
      return 'object does not exist';
    case 'changed':
      return 'the object changed: its ETag no longer matches';
    case 'checksum-mismatch':
      return 'the bytes do not match the checksum the store keeps';
    case 'transient':
      if (code === 'TimeoutError') return 'the store did not answer in time';
      if (status !== undefined && status >= 500) return `the store failed with HTTP ${status}`;
      if (code === 'SlowDown' || status === 429) return 'the store is throttling requests';
      return 'the connection to the store failed';
    default: {
      const meaning = PERMANENT_MEANING[code];
      if (meaning) return meaning;
      // The store's own words, first line only, masked: it may echo a header or a key id.
      const line = redactor.redact(message.split('\n')[0] ?? '').slice(0, 200);
      const prefix = status !== undefined ? `HTTP ${status}` : 'request failed';
      return line && line !== 'UnknownError' ? `${prefix}: ${line}` : prefix;
    }
  }
}

/**
 * The SDK's streaming check says `Checksum mismatch: expected "<stored>" but received "<computed>" in
 * response header "x-amz-checksum-sha256".` (its buffered variant swaps the two; bodies here always stream).
 */
function parseChecksumMismatch(
  message: string,
): { algorithm: string; stored: string; computed: string } | undefined {
  const match =
    /expected "([^"]*)" but received "([^"]*)" in response header "x-amz-checksum-([a-z0-9]+)"/i.exec(
      message,
    );
  if (!match) return undefined;
  return {
    algorithm: (match[3] ?? '').toUpperCase(),
    stored: match[1] ?? '',
    computed: match[2] ?? '',
  };
}
