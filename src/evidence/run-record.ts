import { z } from 'zod';
import { checkResultSchema } from '../model/check-result.js';

/** How a run ended. `aborted`: its process died and a later start closed it. */
export const runVerdictSchema = z.enum(['passed', 'failed', 'error', 'timed_out', 'aborted']);
export type RunVerdict = z.infer<typeof runVerdictSchema>;

/** The backup set a run restored from, as found when the run chose it. */
export const setIdentitySchema = z.object({
  id: z.string(),
  path: z.string(),
  size: z.number().nullable(),
  /** ISO 8601. */
  mtime: z.string().nullable(),
  hash: z.string().nullable(),
});
export type SetIdentity = z.infer<typeof setIdentitySchema>;

/**
 * A confidence-based sample's statement (`sample.confidence` and `tolerance`): with
 * `achieved` confidence, at most a share `tolerance` of the set's `population` items
 * would fail to restore. Fractions 0..1.
 */
export const assuranceSchema = z.object({
  /** C as configured. */
  confidence: z.number(),
  /** p as configured. */
  tolerance: z.number(),
  /** N: the items of the set the sample was drawn from. */
  population: z.number().int(),
  /** n: the smallest draw that gives C over N. */
  required: z.number().int(),
  /** Items drawn (at least n: strata round up, a coverage slice may hold more). */
  drawn: z.number().int(),
  /** The confidence the draw gives when every drawn item restores and verifies. */
  planned: z.number(),
  /** The confidence this run earned: `planned` when it passed, 0 when it failed, null when it could not judge. */
  achieved: z.number().nullable(),
});
export type Assurance = z.infer<typeof assuranceSchema>;

/** What part of the set was restored, and how to re-derive that choice. */
export const sampleEvidenceSchema = z.object({
  /** The sample as configured (`all`, a count, a percentage, a byte cap). */
  spec: z.unknown(),
  /** Seed of the draw; the same seed over the same item list gives the same sample. */
  seed: z.string(),
  /** Items in the set, when listed (null when the whole set was restored without listing). */
  totalItems: z.number().int().nullable(),
  selectedItems: z.number().int(),
  selectedBytes: z.number().nullable(),
  /** Share of the set restored at least once in the current coverage cycle, 0..1, when `cover` is set. */
  coverage: z.number().nullable().optional(),
  /** The confidence statement, when the sample was sized by `confidence` and `tolerance`. */
  assurance: assuranceSchema.optional(),
  /** The chosen item paths (capped at 1000 here; `run_items` holds them all). */
  items: z.array(z.string()),
});
export type SampleEvidence = z.infer<typeof sampleEvidenceSchema>;

/** Per-phase timings in milliseconds. */
export const timingsSchema = z.object({
  selectMs: z.number(),
  restoreMs: z.number(),
  verifyMs: z.number(),
  cleanupMs: z.number(),
  totalMs: z.number(),
  /** Milliseconds per pipeline phase (prepare, select, sample, restore, verify, cleanup, record); absent in older records. */
  phases: z.record(z.string(), z.number()).optional(),
});

/** A subprocess run during the drill. */
export const commandEvidenceSchema = z.object({
  command: z.string(),
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  durationMs: z.number(),
  timedOut: z.boolean(),
  canceled: z.boolean(),
  stdoutTail: z.string(),
  stderrTail: z.string(),
});

/**
 * Everything one finished run proves, on its own: which set, which items, when,
 * how long, what was expected and found. This document is what the evidence
 * store hashes into its chain; it is written once and never changed.
 */
export const runRecordSchema = z.object({
  runId: z.string(),
  drill: z.string(),
  verdict: runVerdictSchema,
  /** One line saying why, for `error`, `timed_out` and `aborted`; the first failed check for `failed`. */
  cause: z.string().nullable(),
  trigger: z.enum(['manual', 'schedule', 'replay']),
  /** The cron slot this run fills, for scheduled runs (ISO 8601). */
  scheduledFor: z.string().nullable(),
  /** For `--replay`: the run whose sample was restored again. */
  replayOf: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string(),
  sourceKind: z.string(),
  set: setIdentitySchema.nullable(),
  sample: sampleEvidenceSchema.nullable(),
  restored: z.object({
    files: z.number().int(),
    bytes: z.number(),
    /** Symbolic links restored as links (not counted in `files`), for sources that restore links. */
    links: z.number().int().optional(),
    tables: z.number().int().optional(),
  }),
  /**
   * SHA-256 over the sorted `path\tsize\tsha256` lines of every restored file (and
   * `path\t0\t\ttarget` of every restored link): fixes the item list into the record.
   */
  itemsDigest: z.string().nullable(),
  checks: z.array(checkResultSchema),
  timings: timingsSchema,
  commands: z.array(commandEvidenceSchema).default([]),
  targets: z.object({ rtoMs: z.number().nullable(), rpoMs: z.number().nullable() }),
  host: z.string(),
  version: z.string(),
  /** SHA-256 of the drill's config as resolved (secrets masked). */
  configHash: z.string(),
  scratchDir: z.string().nullable(),
  scratchKept: z.boolean(),
});
export type RunRecord = z.infer<typeof runRecordSchema>;

/**
 * One restored item, stored beside the record (a set may hold millions): a regular file, or
 * a symbolic link restored as a link (`linkTarget` set, size 0, no SHA-256: its content is its target).
 */
export const runItemSchema = z.object({
  path: z.string(),
  size: z.number(),
  sha256: z.string().nullable(),
  /** The link's target, escaped as names are; absent for regular files. */
  linkTarget: z.string().optional(),
});
export type RunItem = z.infer<typeof runItemSchema>;
