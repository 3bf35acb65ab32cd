import { z } from 'zod';

/** Manifest formats restore-drill reads. */
export const manifestFormatSchema = z
  .enum(['sha256sum', 'backup_manifest', 'restore-drill'])
  .describe("sha256sum: lines of '<hex>  <path>'; backup_manifest: pg_basebackup's; restore-drill: the JSON of `restore-drill manifest`.");

/** Where the expected checksums are. */
export const manifestCheckConfigSchema = z
  .strictObject({
    format: manifestFormatSchema.default('sha256sum'),
    path: z
      .string()
      .min(1)
      .describe("Relative: inside the set (e.g. SHA256SUMS). Absolute or with {set}: anywhere, e.g. '{set}.sha256' beside the set."),
  })
  .describe('Verify every restored file against a manifest of checksums.');

export type ManifestCheckConfig = z.output<typeof manifestCheckConfigSchema>;
