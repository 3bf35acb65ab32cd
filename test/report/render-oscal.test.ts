import { describe, expect, it } from 'vitest';
import { runPointOf, summarizeRecords } from '../../src/report/drill-summary.js';
import { oscalAssessmentResultsSchema } from '../../src/report/oscal-schema.js';
import {
  NoControlsError,
  OSCAL_NS,
  oscalControlId,
  oscalUuidFor,
  renderOscalReport,
} from '../../src/report/render-oscal.js';
import { makeRecord } from './make-record.js';
import {
  NIST_OSCAL_SCHEMAS,
  nistOscalProblems,
  nistSchemaBytes,
  sha256Of,
} from '../helpers/nist-oscal.js';

const now = new Date('2026-03-01T00:00:00Z');
const window = {
  since: new Date('2026-02-01T00:00:00Z'),
  until: now,
  now,
  chain: { seq: 42, recordHash: 'c'.repeat(64) },
};
const drills = [
  { name: 'nightly', maxAge: 2 * 86_400_000, controls: ['cp-4', 'cp-9'] },
  { name: 'weekly', maxAge: 8 * 86_400_000, controls: ['cp-4', 'ISO27001:A.8.13'] },
  { name: 'unmapped', maxAge: 8 * 86_400_000 },
];

function period() {
  const records = [
    makeRecord({ drill: 'nightly', at: '2026-02-27T03:00:00Z' }),
    makeRecord({ drill: 'nightly', at: '2026-02-28T03:00:00Z', setPath: '/backups/b.tar' }),
    makeRecord({ drill: 'weekly', at: '2026-02-27T04:00:00Z', verdict: 'failed' }),
    makeRecord({ drill: 'unmapped', at: '2026-02-27T05:00:00Z', setAgeMs: null }),
  ];
  const summary = summarizeRecords(drills, records, window);
  const rows = records.map((record, index) => ({
    ...runPointOf(record, index + 1),
    recordHash: String(index).repeat(64),
  }));
  return { records, summary, rows };
}

describe('report --format oscal', () => {
  it('writes valid OSCAL 1.1 assessment results: one TEST observation per run, one finding per control', async () => {
    const { records, summary, rows } = period();
    const document = await renderOscalReport(summary, rows);
    expect(oscalAssessmentResultsSchema.safeParse(document).success).toBe(true);
    expect(nistOscalProblems(document)).toEqual([]);
    const results = document['assessment-results'];
    expect(results.metadata).toMatchObject({
      'oscal-version': '1.1.2',
      'last-modified': '2026-03-01T00:00:00.000Z',
    });
    const planHref = results['import-ap'].href;
    expect(results['back-matter']?.resources?.map((resource) => `#${resource.uuid}`)).toContain(
      planHref,
    );
    const [result] = results.results;
    expect(result).toMatchObject({
      start: '2026-02-01T00:00:00.000Z',
      end: '2026-03-01T00:00:00.000Z',
      'reviewed-controls': {
        'control-selections': [
          {
            // Sorted by control id, as the coverage matrix is.
            'include-controls': [
              { 'control-id': 'ISO27001_A.8.13' },
              { 'control-id': 'cp-4' },
              { 'control-id': 'cp-9' },
            ],
          },
        ],
      },
    });

    const observations = result?.observations ?? [];
    expect(observations).toHaveLength(records.length);
    const failed = observations.find((observation) =>
      observation.title?.includes(records[2]?.runId ?? '?'),
    );
    expect(failed).toMatchObject({
      methods: ['TEST'],
      collected: records[2]?.finishedAt,
      props: [{ name: 'verdict', ns: OSCAL_NS, value: 'failed' }],
      subjects: [
        { type: 'resource', title: 'drill weekly' },
        { type: 'resource', title: 'backup set /backups/set.tar.gz' },
      ],
      'relevant-evidence': [
        {
          props: [
            { name: 'run-id', value: records[2]?.runId },
            { name: 'record-seq', value: '3' },
            { name: 'record-hash', value: '2'.repeat(64) },
          ],
        },
      ],
    });
    // A run without a backup set has only the drill as subject.
    expect(observations[3]?.subjects).toHaveLength(1);
    const resourceUuids = new Set(results['back-matter']?.resources?.map((entry) => entry.uuid));
    for (const observation of observations)
      for (const subject of observation.subjects ?? [])
        expect(resourceUuids.has(subject['subject-uuid'])).toBe(true);

    const findings = result?.findings ?? [];
    expect(
      findings.map((finding) => [finding.target['target-id'], finding.target.status.state]),
    ).toEqual([
      ['ISO27001_A.8.13', 'not-satisfied'],
      ['cp-4', 'not-satisfied'],
      ['cp-9', 'satisfied'],
    ]);
    const cp9 = findings[2];
    expect(cp9?.['related-observations']?.map((entry) => entry['observation-uuid'])).toEqual([
      oscalUuidFor(`run:${records[0]?.runId}`),
      oscalUuidFor(`run:${records[1]?.runId}`),
    ]);
    expect(findings[0]?.props).toContainEqual({
      name: 'control',
      ns: OSCAL_NS,
      value: 'ISO27001:A.8.13',
    });
    // The same period gives the same document: uuids are name-based.
    expect(await renderOscalReport(summary, rows)).toEqual(document);
  });

  it('refuses a period whose drills name no control', async () => {
    const summary = summarizeRecords([{ name: 'unmapped' }], [], window);
    await expect(renderOscalReport(summary, [])).rejects.toThrow(NoControlsError);
    await expect(renderOscalReport(summary, [])).rejects.toThrow(
      'report --format oscal: no drill names a control (drills[].controls, e.g. [cp-4, cp-9]): an assessment result would assess nothing',
    );
  });

  it('makes version 5 uuids and OSCAL tokens of control ids', () => {
    expect(oscalUuidFor('run:x')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(oscalUuidFor('run:x')).toBe(oscalUuidFor('run:x'));
    expect(oscalUuidFor('run:x')).not.toBe(oscalUuidFor('run:y'));
    expect(oscalControlId('SOC2:CC9.1')).toBe('SOC2_CC9.1');
    expect(oscalControlId('9.1 backup')).toBe('_9.1_backup');
    // SP 800-53 enhancements as NIST's OSCAL catalog names them.
    expect(oscalControlId('cp-9(1)')).toBe('cp-9.1');
    expect(oscalControlId('CP-9(8)(a)')).toBe('CP-9.8.a');
  });

  it('the schema of the model refuses what NIST requires and a document lacks', async () => {
    const { summary, rows } = period();
    const document = await renderOscalReport(summary, rows);
    const broken = structuredClone(document);
    const metadata = broken['assessment-results'].metadata as Record<string, unknown>;
    delete metadata['oscal-version'];
    (broken['assessment-results'].results[0] as Record<string, unknown>).start = '2026-02-01';
    const observation = broken['assessment-results'].results[0]?.observations?.[0] as Record<
      string,
      unknown
    >;
    observation.methods = ['GUESS'];
    observation.uuid = 'not-a-uuid';
    const parsed = oscalAssessmentResultsSchema.safeParse(broken);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.')).sort()).toEqual([
      'assessment-results.metadata.oscal-version',
      'assessment-results.results.0.observations.0.methods.0',
      'assessment-results.results.0.observations.0.uuid',
      'assessment-results.results.0.start',
    ]);
    const extra = structuredClone(document) as unknown as { 'assessment-results': object };
    Object.assign(extra['assessment-results'], { 'import-ssp': { href: '#x' } });
    expect(oscalAssessmentResultsSchema.safeParse(extra).success).toBe(false);
  });

  it("the vendored NIST schemas are NIST's release assets, byte for byte", () => {
    for (const schema of NIST_OSCAL_SCHEMAS) {
      const bytes = nistSchemaBytes(schema.file);
      expect(sha256Of(bytes), schema.file).toBe(schema.sha256);
      expect((JSON.parse(bytes.toString('utf8')) as { $id: string }).$id).toBe(
        `http://csrc.nist.gov/ns/oscal/${schema.version}/oscal-ar-schema.json`,
      );
    }
  });

  it("the schema of the model refuses every value NIST's own schemas refuse", async () => {
    const { summary, rows } = period();
    const document = await renderOscalReport(summary, rows);
    type Edit = (results: Record<string, any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
    const edits: [string, Edit][] = [
      ['a prop value over two lines', (r) => (r.metadata.props[0].value = 'two\nlines')],
      ['a prop value with a trailing space', (r) => (r.metadata.props[0].value = 'x ')],
      [
        'a time zone offset no place uses',
        (r) => (r.metadata['last-modified'] = '2026-03-01T00:00:00.000+99:99'),
      ],
      ['a time without a zone', (r) => (r.results[0].start = '2026-02-01T00:00:00')],
      ['a version 1 uuid', (r) => (r.uuid = 'c232ab00-9414-11ec-b3c8-9f68deced846')],
      ['a prop name that is no token', (r) => (r.metadata.props[0].name = '1st')],
      ['an import-ap href with a space', (r) => (r['import-ap'].href = '#a b')],
      [
        'a finding target type NIST does not define',
        (r) => (r.results[0].findings[0].target.type = 'control-id'),
      ],
    ];
    for (const [what, edit] of edits) {
      const broken = structuredClone(document);
      edit(broken['assessment-results']);
      expect(nistOscalProblems(broken), what).not.toEqual([]);
      expect(oscalAssessmentResultsSchema.safeParse(broken).success, what).toBe(false);
    }
  });
});
