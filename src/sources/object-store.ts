/**
 * The subset of an S3-compatible object store the `s3` source needs (kysely's habit: depend
 * on the few calls you use, not the vendor client). `s3-object-store.ts` implements it over
 * the AWS SDK; errors cross this seam already classified, as `ObjectStoreError`.
 */

/** One object as a listing shows it. */
export interface StoredObject {
  key: string;
  size: number;
  /** The ETag without its quotes; null when the store gave none. */
  etag: string | null;
  lastModified: Date | null;
}

/** One page of a listing. */
export interface ListPage {
  objects: StoredObject[];
  /** Common prefixes (with their trailing delimiter) when a delimiter was given. */
  prefixes: string[];
  /** Pass back as `continuationToken` for the next page; undefined on the last page. */
  nextToken: string | undefined;
}

export interface ListRequest {
  prefix: string;
  /** `/` lists one level; omitted lists every key under the prefix. */
  delimiter?: string | undefined;
  continuationToken?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** Checksum algorithms S3 can store alongside an object. */
export type StoredChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';

/** An object being downloaded: what the store says about it, and its bytes. */
export interface ObjectDownload {
  etag: string | null;
  contentLength: number | null;
  /**
   * Checksums the store keeps for the object (base64, as S3 reports them). A value ending in
   * `-N`, or `checksumType: 'COMPOSITE'`, covers the parts of a multipart upload, not the bytes.
   */
  checksums: Partial<Record<StoredChecksumAlgorithm, string>>;
  checksumType: 'FULL_OBJECT' | 'COMPOSITE' | null;
  /** SSE-KMS or SSE-C: the ETag of such an object is not the MD5 of its bytes. */
  etagIsNotMd5: boolean;
  /**
   * The bytes. Read errors are `ObjectStoreError`s; a stored full-object checksum that does not
   * match the bytes fails the read at its end with kind `checksum-mismatch`.
   */
  body: AsyncIterable<Uint8Array>;
  /** Releases the connection when the body will not be read. */
  discard(): void;
}

export interface GetRequest {
  /** Fail with kind `changed` (HTTP 412) when the object's ETag is no longer this. */
  ifMatch?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** An S3-compatible bucket. */
export interface ObjectStore {
  /** `s3://bucket`, for messages; never credentials or the endpoint. */
  readonly location: string;
  list(request: ListRequest): Promise<ListPage>;
  head(key: string, options: { signal?: AbortSignal | undefined }): Promise<StoredObject>;
  get(key: string, options: GetRequest): Promise<ObjectDownload>;
  /**
   * The sizes of a multipart object's `parts` parts, in order (GetObjectAttributes, else a HEAD
   * with partNumber per part); null when the store tells neither. Transient and abort errors throw.
   */
  partSizes(
    key: string,
    options: { parts: number; signal?: AbortSignal | undefined },
  ): Promise<number[] | null>;
}

/**
 * How a store error is handled, decided once where the vendor error is understood
 * (restic's `IsPermanentError`): only `transient` is retried.
 */
export type ObjectStoreErrorKind =
  /** 5xx, throttling, timeouts, reset connections: try again. */
  | 'transient'
  /** The key does not exist (any more). */
  | 'not-found'
  /** The object is not the one asked for (HTTP 412 on If-Match). */
  | 'changed'
  /** The bytes do not match a checksum the store keeps. */
  | 'checksum-mismatch'
  /** The caller's signal aborted the request. */
  | 'aborted'
  /** Anything else: no bucket, denied, bad credentials, wrong region… */
  | 'permanent';

/** A classified store failure; `message` is one line and never holds a credential. */
export class ObjectStoreError extends Error {
  override readonly name = 'ObjectStoreError';
  constructor(
    readonly kind: ObjectStoreErrorKind,
    /** The store's error code (`NoSuchBucket`, `SlowDown`) or the socket's (`ECONNRESET`). */
    readonly code: string,
    message: string,
    readonly details: {
      status?: number | undefined;
      checksum?: { algorithm: string; stored: string; computed: string };
    } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
