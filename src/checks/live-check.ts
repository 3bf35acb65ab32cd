import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { hashFile } from '../manifest/hash-file.js';
import { fsPath, printable } from '../model/file-name.js';
import { type Check, type CheckContext } from './check.js';
import { MAX_FINDINGS, type CheckResult, type Finding } from '../model/check-result.js';
import { defineCheckKind } from './check-kind.js';
import { listFindings, plural } from '../model/describe.js';
import { dataFiles } from './manifest-check.js';

/** How many differing names `actual` lists; the findings of a failed check hold up to MAX_FINDINGS. */
const DIFFERING_NAMES_SHOWN = 20;

/** `checks.live`: the live folder the backup was taken from, and the share allowed to differ. */
export const liveCheckConfigSchema = z
  .strictObject({
    path: z
      .string()
      .refine((text) => path.isAbsolute(text), {
        message: "expected the live folder's absolute path, e.g. /srv/files",
      })
      .describe(
        'Absolute path of the live folder the backup set was taken from; each restored file is compared with the same relative path there. Only read, never written.',
      ),
    tolerance: z
      .string()
      .regex(/^\d+(\.\d+)?%$/, { message: "expected a percentage like '5%'" })
      .refine((text) => Number(text.slice(0, -1)) <= 100, {
        message: "expected a percentage from 0% to 100%, e.g. '5%'",
      })
      .describe(
        "Share of the restored files allowed to differ from the live side (size or SHA-256, or missing there), e.g. '5%': files change after a backup; more means a stale or broken backup.",
      ),
  })
  .describe('Compare the restored files with the live folder (directory sources; read-only).');

/** `checks.live`, parsed. */
export type LiveCheckConfig = z.output<typeof liveCheckConfigSchema>;

/** Why a live path is not the same item; null when it matches. */
type LiveDifference = Pick<Finding, 'problem' | 'actual'> | null;

/** Errors that mean "nothing of that name there", not "cannot look". */
const ABSENT = new Set(['ENOENT', 'ENOTDIR']);

/**
 * `live`: each restored file (and link) against the same relative path under the live
 * folder, by size and SHA-256 (a link by its target); a path missing there differs.
 * Fails when the share that differs exceeds the tolerance. The live side is only
 * read (opened O_RDONLY, never touched); a live folder that cannot be read breaks the
 * check (the run cannot judge), it does not fail the backup.
 */
export class LiveCheck implements Check {
  readonly name = 'live';

  constructor(private readonly config: LiveCheckConfig) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const root = this.config.path;
    const rootStat = await lstat(root).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`live folder ${root} cannot be read: ${error.code ?? error.message}`);
    });
    if (!rootStat.isDirectory()) throw new Error(`live folder ${root} is not a folder`);
    const files = dataFiles(context.outcome.files, context.manifestsInSet);
    const links = context.outcome.links ?? [];
    const differing: Finding[] = [];
    for (const file of files) {
      context.signal?.throwIfAborted();
      const difference = await compareFile(root, file.path, file, context.signal);
      if (difference)
        differing.push({
          item: file.path,
          expected: { size: file.size, sha256: file.sha256 },
          ...difference,
        });
    }
    for (const link of links) {
      const difference = await compareLink(root, link.path, link.target);
      if (difference)
        differing.push({ item: link.path, expected: { target: link.target }, ...difference });
    }
    differing.sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0));
    const compared = files.length + links.length;
    const share = compared === 0 ? 0 : differing.length / compared;
    const allowed = Number(this.config.tolerance.slice(0, -1)) / 100;
    const failed = share > allowed;
    const shown = `${formatShare(share)} of ${plural(compared, 'restored item')} differ from the live side ${printable(root)} (tolerance ${this.config.tolerance})`;
    return [
      {
        name: this.name,
        verdict: failed ? 'failed' : 'passed',
        expected: { live: root, tolerance: this.config.tolerance },
        actual: {
          compared,
          differing: differing.length,
          share,
          names: differing.slice(0, DIFFERING_NAMES_SHOWN).map((finding) => finding.item),
        },
        detail: differing.length === 0 ? shown : `${shown}: ${listFindings(differing)}`,
        ...(failed
          ? { findings: differing.slice(0, MAX_FINDINGS), findingsTotal: differing.length }
          : {}),
      },
    ];
  }
}

/** A share as a percentage with up to two decimals: 0.125 -> '12.5%'. */
function formatShare(share: number): string {
  return `${Number((share * 100).toFixed(2))}%`;
}

/** A restored file against the live path of the same name: same size and SHA-256, or why not. */
async function compareFile(
  root: string,
  rel: string,
  restored: { size: number; sha256: string },
  signal: AbortSignal | undefined,
): Promise<LiveDifference> {
  const live = fsPath(root, rel);
  const stats = await statLive(live, rel);
  if (stats === null) return { problem: 'missing-live', actual: 'no such file on the live side' };
  if (!stats.isFile())
    return { problem: 'not-a-file-live', actual: 'not a regular file on the live side' };
  if (stats.size !== restored.size) return { problem: 'differs', actual: { size: stats.size } };
  const hashed = await hashFile(live, ['sha256'], { signal }).catch((error: unknown) => {
    throw liveError(rel, error);
  });
  const sha256 = hashed.digests.sha256;
  return sha256 === restored.sha256 && hashed.size === restored.size
    ? null
    : { problem: 'differs', actual: { size: hashed.size, sha256 } };
}

/** A restored link against the live path: a link with the same target, or why not. */
async function compareLink(root: string, rel: string, target: string): Promise<LiveDifference> {
  const live = fsPath(root, rel);
  const stats = await statLive(live, rel);
  if (stats === null) return { problem: 'missing-live', actual: 'no such link on the live side' };
  if (!stats.isSymbolicLink()) return { problem: 'differs', actual: 'not a link on the live side' };
  const liveTarget = await readlink(live, 'utf8').catch((error: unknown) => {
    throw liveError(rel, error);
  });
  return liveTarget === target ? null : { problem: 'differs', actual: { target: liveTarget } };
}

/** lstat of a live path (never following a link); null when nothing of that name is there. */
async function statLive(live: string | Buffer, rel: string) {
  try {
    return await lstat(live);
  } catch (error) {
    if (ABSENT.has((error as NodeJS.ErrnoException).code ?? '')) return null;
    throw liveError(rel, error);
  }
}

function liveError(rel: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new Error(`cannot read '${rel}' on the live side: ${code}`, { cause: error });
}

/** `checks.live`; the manifest config tells it which restored file is not the live data. */
export const liveCheckKind = defineCheckKind({
  kind: 'live',
  section: 'checks',
  configSchema: liveCheckConfigSchema.optional(),
  phase: 'data',
  create: (config) => [new LiveCheck(config)],
});
