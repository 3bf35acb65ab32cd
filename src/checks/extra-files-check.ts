import { z } from 'zod';
import { isIgnored } from '../manifest/index.js';
import { type Check, type CheckContext } from './check.js';
import { resultFromFindings, type CheckResult, type Finding } from '../model/check-result.js';
import { listFindings, plural } from '../model/describe.js';
import { type ManifestLoader } from './manifest-check.js';
import { defineCheckKind } from './check-kind.js';

/** What to do with restored files the manifest does not list. */
export const extraFilesConfigSchema = z
  .enum(['fail', 'warn', 'ignore'])
  .default('fail')
  .describe('A restored file the manifest does not list: fail the run, warn, or ignore it.');

/** `checks.extraFiles`: fail, warn or ignore. */
export type ExtraFilesPolicy = z.output<typeof extraFilesConfigSchema>;

/**
 * `extraFiles`: restored files the manifest does not list (runs only when a manifest is
 * configured). `fail` fails, `warn` gives a warning; `ignore` still reports a result —
 * passed, with the count in `actual` and the detail saying it was ignored — so the
 * evidence shows the comparison was skipped on purpose.
 */
export class ExtraFilesCheck implements Check {
  readonly name = 'extraFiles';

  constructor(
    private readonly policy: ExtraFilesPolicy,
    private readonly loader: ManifestLoader,
  ) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const loaded = await this.loader.load(context);
    if (!loaded.ok) {
      const detail = `not compared: manifest ${loaded.location.display} cannot be used (see the manifest check)`;
      return [
        {
          name: this.name,
          // Without a manifest nothing can be said to be extra; passing would claim more than was checked.
          verdict:
            this.policy === 'fail' ? 'failed' : this.policy === 'warn' ? 'warning' : 'passed',
          expected: { extra: 0, manifest: loaded.location.display, policy: this.policy },
          actual: { compared: false },
          detail:
            this.policy === 'ignore'
              ? `extra files ignored (extraFiles: ignore); ${detail}`
              : detail,
        },
      ];
    }
    const { manifest, location } = loaded;
    const extras: Finding[] = [];
    for (const file of context.outcome.files) {
      if (
        file.path === location.inSet ||
        // Every manifest the drill's checks read: one inside the set is metadata, never extra.
        context.manifestsInSet.has(file.path) ||
        manifest.files.has(file.path) ||
        isIgnored(manifest, file.path)
      )
        continue;
      extras.push({
        item: file.path,
        problem: 'extra',
        expected: `listed in ${location.display}`,
        actual: { size: file.size },
      });
    }
    extras.sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0));
    const expected = { extra: 0, manifest: location.display, policy: this.policy };
    const actual = { extra: extras.length };
    if (this.policy === 'ignore') {
      return [
        {
          name: this.name,
          verdict: 'passed',
          expected,
          actual,
          detail: `extra files ignored (extraFiles: ignore); ${plural(extras.length, 'restored file')} not in ${location.display}`,
        },
      ];
    }
    return [
      resultFromFindings(this.name, extras, {
        expected,
        actual,
        passDetail: `no restored file is missing from ${location.display}`,
        failDetail: (found) =>
          `${plural(found.length, 'restored file')} not in ${location.display}: ${listFindings(found).replaceAll("extra '", "'")}`,
        onFinding: this.policy,
      }),
    ];
  }
}

/** `checks.extraFiles`: runs only with a manifest, since extra means "not listed in it". */
export const extraFilesCheckKind = defineCheckKind({
  kind: 'extraFiles',
  section: 'checks',
  configSchema: extraFilesConfigSchema,
  phase: 'data',
  needs: () => ['manifest'],
  create: (policy, build) =>
    build.manifest === null ? [] : [new ExtraFilesCheck(policy, build.manifest)],
});
