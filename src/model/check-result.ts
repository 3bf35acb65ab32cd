import { z } from 'zod';

/** A check's verdict; a warning never fails a run. */
export const checkVerdictSchema = z.enum(['passed', 'failed', 'warning']);
export type CheckVerdict = z.infer<typeof checkVerdictSchema>;

/** One problem found by a check, naming the item at fault. */
export const findingSchema = z.object({
  item: z.string().describe('The file, entry, table or object at fault.'),
  problem: z
    .string()
    .describe('Short kind of problem: missing, changed, truncated, extra, escapes-scratch…'),
  expected: z.unknown().optional(),
  actual: z.unknown().optional(),
});
export type Finding = z.infer<typeof findingSchema>;

/** The result of one check: what was expected, what was found, and the verdict. */
export const checkResultSchema = z.object({
  name: z.string(),
  verdict: checkVerdictSchema,
  expected: z.unknown(),
  actual: z.unknown(),
  detail: z.string().describe('One line a person can read.'),
  /** Problems found, each naming its item; capped, with `findingsTotal` giving the full count. */
  findings: z.array(findingSchema).optional(),
  findingsTotal: z.number().int().optional(),
});
export type CheckResult = z.infer<typeof checkResultSchema>;

/** Findings are capped in evidence so one broken set cannot produce a gigabyte record. */
export const MAX_FINDINGS = 100;

/** Builds a result from findings: failed (or `warning` when asked) when there are any. */
export function resultFromFindings(
  name: string,
  findings: Finding[],
  summary: {
    expected: unknown;
    actual: unknown;
    passDetail: string;
    failDetail: (f: Finding[]) => string;
    onFinding?: 'fail' | 'warn';
  },
): CheckResult {
  const failed = findings.length > 0;
  const verdict: CheckVerdict = !failed
    ? 'passed'
    : summary.onFinding === 'warn'
      ? 'warning'
      : 'failed';
  return {
    name,
    verdict,
    expected: summary.expected,
    actual: summary.actual,
    detail: failed ? summary.failDetail(findings) : summary.passDetail,
    ...(failed
      ? { findings: findings.slice(0, MAX_FINDINGS), findingsTotal: findings.length }
      : {}),
  };
}

/** A failed result with its one finding: the whole check judged one thing and it failed. */
export function failedResult(
  name: string,
  problem: string,
  summary: { expected: unknown; actual: unknown; detail: string },
): CheckResult {
  const { expected, actual, detail } = summary;
  return {
    name,
    verdict: 'failed',
    expected,
    actual,
    detail,
    findings: [{ item: name, problem, expected, actual }],
    findingsTotal: 1,
  };
}
