import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';

// NIST's official OSCAL assessment-results JSON Schemas (test/fixtures/oscal/README.md
// says where they come from): every document `report --format oscal` writes must be
// valid against them, not only against the project's own zod model of them.

/** The vendored schemas, each with the SHA-256 of NIST's release asset. */
export const NIST_OSCAL_SCHEMAS = [
  {
    version: '1.1.2',
    file: 'oscal_assessment-results_schema-1.1.2.json',
    sha256: 'd033da70154cf6625ae46a746199e88e58f2928b1387dfac051d381b92f41b0d',
  },
  {
    version: '1.1.3',
    file: 'oscal_assessment-results_schema-1.1.3.json',
    sha256: 'd9e34757f0c12aff61f52b821f0b8f83ba0ba75b3a149a202b08ba82f82bc4c3',
  },
] as const;

export function nistSchemaBytes(file: string): Buffer {
  return readFileSync(new URL(`../fixtures/oscal/${file}`, import.meta.url));
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

let validators: { version: string; validate: ValidateFunction }[] | undefined;

/**
 * Where a document breaks NIST's schemas: one line per problem, `version path: message`;
 * empty when it is valid against every vendored schema. ajv 8 compiles the schemas'
 * `\p{L}` token patterns with the `u` flag, and ajv-formats checks date-time and uri.
 */
export function nistOscalProblems(document: unknown): string[] {
  validators ??= NIST_OSCAL_SCHEMAS.map(({ version, file }) => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    formats.default(ajv);
    return {
      version,
      validate: ajv.compile(JSON.parse(nistSchemaBytes(file).toString('utf8')) as object),
    };
  });
  return validators.flatMap(({ version, validate }) =>
    validate(document)
      ? []
      : (validate.errors ?? []).map(
          (error) => `${version} ${error.instancePath || '/'}: ${error.message ?? 'invalid'}`,
        ),
  );
}
