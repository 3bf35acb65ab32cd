import { createHash } from 'node:crypto';
import { VERSION } from '../version.js';
import type { EvidenceSummary, FailureReview } from './drill-summary.js';
import {
  oscalAssessmentResultsSchema,
  type OscalAssessmentResults,
  type OscalFinding,
  type OscalObservation,
  type OscalProperty,
} from './oscal-schema.js';
import type { RunRow } from './render-csv.js';

/** The OSCAL version the documents follow. */
export const OSCAL_VERSION = '1.1.2';

/** Namespace of restore-drill's own props (OSCAL requires one for names it does not define). */
export const OSCAL_NS = 'https://github.com/restore-drill/restore-drill/ns/oscal';

/** No drill names a control: an assessment result would assess nothing. */
export class NoControlsError extends Error {
  override readonly name = 'NoControlsError';
}

/**
 * A stable version 5 (name-based) UUID: the same run, drill or control gets
 * the same uuid in every document, so documents can be compared.
 */
export function oscalUuidFor(name: string): string {
  const hex = createHash('sha1').update(`restore-drill:${name}`).digest('hex');
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A control id as an OSCAL token: an SP 800-53 enhancement's '(n)' becomes '.n' as in
 * NIST's OSCAL catalog ('cp-9(1)' → 'cp-9.1'), other characters a token cannot hold
 * become '_' ('ISO27001:A.8.13' → 'ISO27001_A.8.13').
 */
export function oscalControlId(control: string): string {
  const token = control.replace(/\(([\p{L}\p{N}]+)\)/gu, '.$1').replace(/[^\p{L}\p{N}._-]/gu, '_');
  return /^(\p{L}|_)/u.test(token) ? token : `_${token}`;
}

function prop(name: string, value: string): OscalProperty {
  return { name, ns: OSCAL_NS, value };
}

/**
 * The latest review (sign-off) of a failing run of these drills in the period, as props:
 * who, what was decided and when, and which run; none when no failing run was reviewed.
 */
function latestReviewProps(
  summary: EvidenceSummary,
  drills: readonly { drill: string }[],
): OscalProperty[] {
  const names = new Set(drills.map(({ drill }) => drill));
  let latest: FailureReview | undefined;
  for (const run of summary.reviews?.failures ?? []) {
    if (!names.has(run.drill) || run.review === null) continue;
    if (latest?.review == null || run.review.seq > latest.review.seq) latest = run;
  }
  const review = latest?.review;
  if (latest === undefined || review == null) return [];
  return [
    prop('review-by', review.by),
    prop('review-decision', review.decision),
    prop('review-time', review.reviewedAt),
    prop('review-via', review.via),
    prop('reviewed-run', latest.runId),
    ...(review.ticket === null ? [] : [prop('review-ticket', review.ticket)]),
  ];
}

/**
 * The period's evidence as an OSCAL 1.1 assessment-results document: one
 * observation per run (method TEST; subjects the drill and the backup set;
 * relevant evidence the run id and its record hash), one finding per control
 * the drills evidence, satisfied only when every drill evidencing it is green.
 * The document is checked against the schema of the model before it is returned.
 */
export async function renderOscalReport(
  summary: EvidenceSummary,
  runs: AsyncIterable<RunRow> | Iterable<RunRow>,
): Promise<OscalAssessmentResults> {
  const controls = summary.coverage.controls;
  if (controls.length === 0) {
    throw new NoControlsError(
      'report --format oscal: no drill names a control (drills[].controls, e.g. [cp-4, cp-9]): an assessment result would assess nothing',
    );
  }
  const planUuid = oscalUuidFor('assessment-plan');
  const resources = new Map<string, { uuid: string; title: string; description: string }>();
  const resourceFor = (key: string, title: string, description: string): string => {
    let entry = resources.get(key);
    if (entry === undefined) {
      entry = { uuid: oscalUuidFor(key), title, description };
      resources.set(key, entry);
    }
    return entry.uuid;
  };
  for (const drill of summary.drills) {
    resourceFor(
      `drill:${drill.name}`,
      `drill ${drill.name}`,
      drill.description ?? `restore drill ${drill.name}`,
    );
  }

  const observations: OscalObservation[] = [];
  const observationsByDrill = new Map<string, string[]>();
  for await (const run of runs) {
    const uuid = oscalUuidFor(`run:${run.runId}`);
    const subjects: NonNullable<OscalObservation['subjects']> = [
      {
        'subject-uuid': resourceFor(
          `drill:${run.drill}`,
          `drill ${run.drill}`,
          `restore drill ${run.drill}`,
        ),
        type: 'resource',
        title: `drill ${run.drill}`,
      },
    ];
    if (run.setPath !== null) {
      subjects.push({
        'subject-uuid': resourceFor(
          `set:${run.setPath}`,
          `backup set ${run.setPath}`,
          `the backup set ${run.setPath}`,
        ),
        type: 'resource',
        title: `backup set ${run.setPath}`,
      });
    }
    const evidenceProps = [prop('run-id', run.runId)];
    if (run.seq !== undefined) evidenceProps.push(prop('record-seq', String(run.seq)));
    if (run.recordHash !== undefined) evidenceProps.push(prop('record-hash', run.recordHash));
    observations.push({
      uuid,
      title: `${run.drill} run ${run.runId}: ${run.verdict}`,
      description: `Restore drill ${run.drill} restored${run.setPath === null ? '' : ` ${run.setPath}`} and verified it: ${run.verdict}${run.cause === null ? '' : ` (${run.cause})`}; ${run.files} files, ${run.bytes} bytes, ${run.checksFailed} checks failed.`,
      props: [prop('verdict', run.verdict)],
      methods: ['TEST'],
      subjects,
      'relevant-evidence': [
        {
          description: `restore-drill evidence record of run ${run.runId}${run.recordHash === undefined ? '' : ` (record_hash ${run.recordHash})`}: restore-drill show ${run.runId}`,
          props: evidenceProps,
        },
      ],
      collected: run.finishedAt,
    });
    const list = observationsByDrill.get(run.drill) ?? [];
    list.push(uuid);
    observationsByDrill.set(run.drill, list);
  }

  const findings: OscalFinding[] = controls.map((coverage) => {
    const satisfied = coverage.state === 'green';
    const related = coverage.drills.flatMap(({ drill }) => observationsByDrill.get(drill) ?? []);
    const drills = coverage.drills.map(({ drill, state }) => `${drill} (${state})`).join(', ');
    return {
      uuid: oscalUuidFor(
        `finding:${summary.window.since}:${summary.window.until}:${coverage.control}`,
      ),
      title: `Control ${coverage.control}: ${satisfied ? 'satisfied' : 'not satisfied'}`,
      description: `Restore drills evidencing ${coverage.control} from ${summary.window.since} to ${summary.window.until}: ${drills}.`,
      props: [
        prop('control', coverage.control),
        prop('coverage-state', coverage.state),
        ...latestReviewProps(summary, coverage.drills),
      ],
      target: {
        type: 'objective-id',
        'target-id': oscalControlId(coverage.control),
        status: { state: satisfied ? 'satisfied' : 'not-satisfied' },
      },
      ...(related.length > 0
        ? { 'related-observations': related.map((uuid) => ({ 'observation-uuid': uuid })) }
        : {}),
    };
  });

  const chain = summary.chain;
  const document: OscalAssessmentResults = {
    'assessment-results': {
      uuid: oscalUuidFor(
        `assessment-results:${summary.window.since}:${summary.window.until}:${summary.generatedAt}:${chain?.recordHash ?? 'empty'}`,
      ),
      metadata: {
        title: `Restore drill results ${summary.window.since} to ${summary.window.until}`,
        'last-modified': summary.generatedAt,
        version: VERSION,
        'oscal-version': OSCAL_VERSION,
        ...(chain === null
          ? {}
          : {
              props: [
                prop('chain-head-seq', String(chain.seq)),
                prop('chain-head-hash', chain.recordHash),
              ],
            }),
      },
      'import-ap': { href: `#${planUuid}` },
      results: [
        {
          uuid: oscalUuidFor(
            `result:${summary.window.since}:${summary.window.until}:${summary.generatedAt}`,
          ),
          title: `Restore drills ${summary.window.since} to ${summary.window.until}`,
          description: `${summary.totals.runs} restore drill runs of ${summary.totals.drills} drills, ${summary.totals.passes} passed; drills green ${summary.totals.green}, red ${summary.totals.red}, waived ${summary.totals.waived}.`,
          start: summary.window.since,
          end: summary.window.until,
          'reviewed-controls': {
            'control-selections': [
              {
                'include-controls': controls.map((coverage) => ({
                  'control-id': oscalControlId(coverage.control),
                })),
              },
            ],
          },
          ...(observations.length > 0 ? { observations } : {}),
          findings,
        },
      ],
      'back-matter': {
        resources: [
          {
            uuid: planUuid,
            title: 'restore-drill configuration',
            description:
              'The assessment plan: the restore drills configured in restore-drill (drills, schedules, checks, controls).',
          },
          ...[...resources.values()],
        ],
      },
    },
  };
  return oscalAssessmentResultsSchema.parse(document);
}
