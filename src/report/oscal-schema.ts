import { z } from 'zod';

/**
 * The part of NIST's OSCAL 1.1 assessment-results model that restore-drill
 * writes, from NIST's published model reference
 * (https://pages.nist.gov/OSCAL-Reference/models/v1.1.2/assessment-results/json-reference/):
 * every field NIST requires is required here, with NIST's value patterns copied
 * from its JSON schema, and objects are strict so a misspelt field fails instead
 * of being ignored. The tests also validate every document against NIST's own
 * schemas (test/fixtures/oscal/).
 */

/** OSCAL `uuid`: an RFC 4122 version 4 or 5 UUID. */
export const oscalUuid = z
  .string()
  .regex(
    /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[45][0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}$/,
    {
      message: 'expected an RFC 4122 version 4 or 5 UUID',
    },
  );

/** OSCAL `token`: a letter or _ first, then letters, digits, '.', '-' or '_'. */
export const oscalToken = z.string().regex(/^(\p{L}|_)(\p{L}|\p{N}|[.\-_])*$/u, {
  message: "expected an OSCAL token: a letter or '_', then letters, digits, '.', '-' or '_'",
});

/** OSCAL `string`: not empty, no leading or trailing white space, one line (NIST's `.` stops at a line break). */
export const oscalString = z.string().regex(/^\S(.*\S)?$/u, {
  message: 'expected a non-empty one-line string without leading or trailing white space',
});

/** OSCAL `date-time-with-timezone`. */
export const oscalDateTime = z
  .string()
  .regex(
    /^(((2000|2400|2800|(19|2[0-9](0[48]|[2468][048]|[13579][26])))-02-29)|(((19|2[0-9])[0-9]{2})-02-(0[1-9]|1[0-9]|2[0-8]))|(((19|2[0-9])[0-9]{2})-(0[13578]|10|12)-(0[1-9]|[12][0-9]|3[01]))|(((19|2[0-9])[0-9]{2})-(0[469]|11)-(0[1-9]|[12][0-9]|30)))T(2[0-3]|[01][0-9]):([0-5][0-9]):([0-5][0-9])(\.[0-9]+)?(Z|(-((0[0-9]|1[0-2]):00|0[39]:30)|\+((0[0-9]|1[0-4]):00|(0[34569]|10):30|(0[58]|12):45)))$/,
    { message: 'expected a date-time with a time zone (Z or an offset in use, e.g. +05:30)' },
  );

/** OSCAL `uri` (absolute) and `uri-reference` (may be relative, e.g. '#uuid'). */
const oscalUri = z.string().regex(/^[a-zA-Z][a-zA-Z0-9+\-.]+:.+$/, { message: 'expected a URI' });
const oscalUriReference = z.string().regex(/^\S+$/u, { message: 'expected a URI reference' });

/** A property: a name in a namespace, with a value. */
export const oscalProperty = z.strictObject({
  name: oscalToken,
  uuid: oscalUuid.optional(),
  ns: oscalUri.optional(),
  value: oscalString,
  class: oscalToken.optional(),
  remarks: z.string().optional(),
});

const props = z.array(oscalProperty).min(1).optional();

const metadata = z.strictObject({
  title: z.string().min(1),
  published: oscalDateTime.optional(),
  'last-modified': oscalDateTime,
  version: oscalString,
  'oscal-version': z.string().regex(/^1\.1\.\d+$/, { message: 'expected OSCAL 1.1.x' }),
  props,
  remarks: z.string().optional(),
});

const controlSelection = z
  .strictObject({
    description: z.string().optional(),
    props,
    'include-all': z.strictObject({}).optional(),
    'include-controls': z
      .array(
        z.strictObject({
          'control-id': oscalToken,
          'statement-ids': z.array(oscalToken).min(1).optional(),
        }),
      )
      .min(1)
      .optional(),
  })
  .refine(
    (selection) =>
      (selection['include-all'] === undefined) !== (selection['include-controls'] === undefined),
    {
      message: "expected exactly one of 'include-all' and 'include-controls'",
    },
  );

const subjectReference = z.strictObject({
  'subject-uuid': oscalUuid,
  type: z.enum(['component', 'inventory-item', 'location', 'party', 'user', 'resource']),
  title: z.string().optional(),
  props,
  remarks: z.string().optional(),
});

const relevantEvidence = z.strictObject({
  href: oscalUriReference.optional(),
  description: z.string().min(1),
  props,
  remarks: z.string().optional(),
});

export const oscalObservation = z.strictObject({
  uuid: oscalUuid,
  title: z.string().optional(),
  description: z.string().min(1),
  props,
  methods: z.array(z.enum(['EXAMINE', 'INTERVIEW', 'TEST', 'UNKNOWN'])).min(1),
  types: z
    .array(
      z.enum(['ssp-statement-issue', 'control-objective', 'mitigation', 'finding', 'historic']),
    )
    .min(1)
    .optional(),
  subjects: z.array(subjectReference).min(1).optional(),
  'relevant-evidence': z.array(relevantEvidence).min(1).optional(),
  collected: oscalDateTime,
  expires: oscalDateTime.optional(),
  remarks: z.string().optional(),
});

export const oscalFinding = z.strictObject({
  uuid: oscalUuid,
  title: z.string().min(1),
  description: z.string().min(1),
  props,
  target: z.strictObject({
    type: z.enum(['statement-id', 'objective-id']),
    'target-id': oscalToken,
    title: z.string().optional(),
    description: z.string().optional(),
    props,
    status: z.strictObject({
      state: z.enum(['satisfied', 'not-satisfied']),
      reason: oscalToken.optional(),
      remarks: z.string().optional(),
    }),
    remarks: z.string().optional(),
  }),
  'related-observations': z
    .array(z.strictObject({ 'observation-uuid': oscalUuid }))
    .min(1)
    .optional(),
  remarks: z.string().optional(),
});

export const oscalResult = z.strictObject({
  uuid: oscalUuid,
  title: z.string().min(1),
  description: z.string().min(1),
  start: oscalDateTime,
  end: oscalDateTime.optional(),
  props,
  'reviewed-controls': z.strictObject({
    description: z.string().optional(),
    'control-selections': z.array(controlSelection).min(1),
  }),
  observations: z.array(oscalObservation).min(1).optional(),
  findings: z.array(oscalFinding).min(1).optional(),
  remarks: z.string().optional(),
});

const resource = z.strictObject({
  uuid: oscalUuid,
  title: z.string().optional(),
  description: z.string().optional(),
  props,
  rlinks: z
    .array(z.strictObject({ href: oscalUriReference, 'media-type': z.string().optional() }))
    .min(1)
    .optional(),
  remarks: z.string().optional(),
});

/** An OSCAL 1.1 assessment-results document, as `report --format oscal` writes it. */
export const oscalAssessmentResultsSchema = z.strictObject({
  'assessment-results': z.strictObject({
    uuid: oscalUuid,
    metadata,
    'import-ap': z.strictObject({ href: oscalUriReference, remarks: z.string().optional() }),
    results: z.array(oscalResult).min(1),
    'back-matter': z.strictObject({ resources: z.array(resource).min(1).optional() }).optional(),
  }),
});

export type OscalAssessmentResults = z.infer<typeof oscalAssessmentResultsSchema>;
export type OscalObservation = z.infer<typeof oscalObservation>;
export type OscalFinding = z.infer<typeof oscalFinding>;
export type OscalProperty = z.infer<typeof oscalProperty>;
