import { z } from 'zod';
import { durationSchema } from '../model/duration.js';
import { selectSchema } from './set-selection.js';
import { defineSourceConfigKind } from './source-kind.js';

/**
 * A glob over one base name: `*`, `?`, `[abc]`, `[!abc]`, `{a,b}`; undefined when malformed.
 * Base names have no `/`, so a full glob library is not needed.
 */
export function compileNameGlob(glob: string): RegExp | undefined {
  let out = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === '*') out += '[^/]*';
    else if (char === '?') out += '[^/]';
    else if (char === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) return undefined;
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (char === '{') {
      braces++;
      out += '(?:';
    } else if (char === '}' && braces > 0) {
      braces--;
      out += ')';
    } else if (char === ',' && braces > 0) out += '|';
    else out += char.replace(/[.+^$()|\\{}\]]/g, '\\$&');
  }
  if (braces !== 0) return undefined;
  try {
    return new RegExp(`^${out}$`);
  } catch {
    return undefined;
  }
}

const checksumModeSchema = z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']);

/** Backup sets in an S3-compatible bucket: one per common prefix, or one per object. */
export const s3SourceConfigSchema = z
  .strictObject({
    kind: z.literal('s3'),
    bucket: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{2,254}$/, {
        message:
          "expected a bucket name of 3+ letters, digits, '.', '-' or '_' (without 's3://' or '/')",
      })
      .describe('The bucket holding the backups, e.g. acme-backups.'),
    prefix: z
      .string()
      .default('')
      .refine((value) => !value.startsWith('/'), {
        message: "expected a key prefix without a leading '/', e.g. 'nightly/'",
      })
      .describe(
        "Where the sets are inside the bucket, e.g. 'nightly/'; a trailing '/' is added when missing. Empty: the bucket's top level.",
      ),
    endpoint: z
      .url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' })
      .refine((value) => !/^[a-z]+:\/\/[^/]*@/i.test(value), {
        message: 'expected no credentials in the endpoint URL; use credentials:',
      })
      .optional()
      .describe(
        'URL of an S3-compatible store (MinIO, Ceph, Wasabi, R2…), e.g. https://minio.internal:9000; AWS S3 when absent.',
      ),
    region: z
      .string()
      .min(1)
      .default('us-east-1')
      .describe("The bucket's region; most non-AWS stores accept any, e.g. us-east-1."),
    forcePathStyle: z
      .boolean()
      .default(false)
      .describe(
        'Address the bucket as https://endpoint/bucket instead of https://bucket.endpoint; true for most non-AWS stores.',
      ),
    credentials: z
      .strictObject({
        accessKeyId: z.string().min(1).describe('Access key id, e.g. ${env:S3_ACCESS_KEY_ID}.'),
        secretAccessKey: z
          .string()
          .min(1)
          .describe(
            'Secret access key; give it as ${env:NAME} so it stays out of the file and is masked.',
          ),
        sessionToken: z
          .string()
          .min(1)
          .optional()
          .describe('Session token of temporary credentials, as ${env:NAME}.'),
      })
      .optional()
      .describe(
        'Static credentials; when absent the standard AWS chain is used (environment, profile, SSO, web identity, instance role).',
      ),
    checksums: z
      .strictObject({
        request: checksumModeSchema
          .default('WHEN_SUPPORTED')
          .describe(
            'When the SDK adds checksums to requests; WHEN_REQUIRED for stores that mishandle aws-chunked uploads (s3rver).',
          ),
        response: checksumModeSchema
          .default('WHEN_SUPPORTED')
          .describe(
            'When the SDK validates response checksums; downloads always ask for stored checksums and verify them.',
          ),
      })
      .optional()
      .describe(
        "The SDK's flexible-checksum behaviour for this endpoint; S3-compatible stores differ.",
      ),
    layout: z
      .enum(['prefixes', 'objects'])
      .describe(
        'prefixes: each folder directly under prefix is a set (e.g. nightly/2026-11-26/); objects: each object directly under prefix is a set (e.g. one archive per night).',
      ),
    match: z
      .string()
      .min(1)
      .refine((value) => compileNameGlob(value) !== undefined, {
        message: "expected a glob over base names like 'db-*.tar.gz' or '20??-*'",
      })
      .optional()
      .describe(
        "Only sets whose base name matches this glob (*, ?, [abc], {a,b}), e.g. 'db-*.dump'.",
      ),
    select: selectSchema,
    concurrency: z.number().int().min(1).max(64).default(4).describe('Objects downloaded at once.'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(20)
      .default(4)
      .describe(
        'Retries of a request that failed transiently (HTTP 5xx, SlowDown, timeouts, reset connections), with exponential backoff.',
      ),
    timeout: durationSchema
      .prefault('60s')
      .describe(
        'A request that cannot connect, get an answer or receive data for this long is abandoned and retried, e.g. 60s.',
      ),
  })
  .describe('Backup sets are prefixes or objects in an S3-compatible bucket.');

export type S3SourceConfig = z.output<typeof s3SourceConfigSchema>;

/** The config side of the s3 source: its schema, without its restore code (it reads no local paths). */
export const s3SourceConfigKind = defineSourceConfigKind({
  kind: 's3',
  configSchema: s3SourceConfigSchema,
});
