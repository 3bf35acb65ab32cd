import { afterEach, describe, expect, it } from 'vitest';
import type { ChainReport } from '../../src/evidence/chain.js';
import type { StoredReview } from '../../src/evidence/reviews.js';
import { makeRecord } from '../report/make-record.js';
import { prepareCliPlace, restoreDrill, type CliPlace } from './evidence-fixture.js';

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

// Real processes on a real PostgreSQL database (the chain logic runs on both engines in test/evidence/reviews.test.ts).
describe('restore-drill signoff', { timeout: 60_000 }, () => {
  let place: CliPlace | undefined;
  afterEach(async () => {
    await place?.cleanup();
    place = undefined;
  });

  it('appends reviews of a failed run that show lists in order, the chain still verifying; an unknown run is a one-line usage error', async () => {
    const failed = makeRecord({ drill: 'weekly', at: ago(3), verdict: 'failed' });
    place = await prepareCliPlace('postgres', [
      makeRecord({ drill: 'nightly', at: ago(4) }),
      failed,
    ]);
    const { config, dir } = place;
    const cli = (...args: string[]) => restoreDrill([...args, '--config', config], dir);
    const signoff = (runId: string, by: string, decision: string, ...more: string[]) =>
      cli('signoff', runId, '--by', by, '--decision', decision, ...more);

    const first = await signoff(
      failed.runId.slice(0, 8),
      'alice',
      'remediation',
      '--note',
      'manifest drift: fix the job',
      '--ticket',
      'OPS-7',
      '--json',
    );
    expect(first.exitCode, first.stderrTail).toBe(0);
    expect(JSON.parse(first.stdout) as StoredReview).toMatchObject({
      kind: 'review',
      runId: failed.runId,
      drill: 'weekly',
      verdict: 'failed',
      by: 'alice',
      decision: 'remediation',
      note: 'manifest drift: fix the job',
      ticket: 'OPS-7',
      via: 'cli',
    });
    const second = await signoff(failed.runId, 'bob', 'risk-accepted', '--note', 'until Q3');
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toMatch(
      new RegExp(
        `^\\S+Z  risk-accepted by bob: until Q3  \\[review of run ${failed.runId}, #\\d+ [0-9a-f]{64}\\]$`,
      ),
    );

    const shown = await cli('show', failed.runId);
    expect(shown.stdout).toMatch(
      /\nreviews:\n {2}\S+ {2}remediation by alice \(ticket OPS-7\): manifest drift: fix the job {2}\[.*\]\n {2}\S+ {2}risk-accepted by bob: until Q3/,
    );
    const json = await cli('show', failed.runId, '--json');
    expect(
      (JSON.parse(json.stdout) as { reviews: StoredReview[] }).reviews.map((r) => r.by),
    ).toEqual(['alice', 'bob']);

    const verified = await cli('evidence', 'verify', '--json');
    expect(verified.exitCode).toBe(0);
    expect(JSON.parse(verified.stdout) as ChainReport).toMatchObject({ intact: true, records: 4 });

    const unknown = await signoff('feedbeef', 'alice', 'accepted', '--note', 'x');
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderrTail.trim()).toBe(
      "restore-drill: no finished run 'feedbeef' in the evidence database to sign off",
    );
    const unknownJson = await signoff('feedbeef', 'alice', 'accepted', '--note', 'x', '--json');
    expect(unknownJson.exitCode).toBe(2);
    expect(JSON.parse(unknownJson.stdout)).toMatchObject({ error: { code: 'run.unknown' } });

    const badDecision = await signoff(failed.runId, 'alice', 'ok', '--note', 'x');
    expect(badDecision.exitCode).toBe(2);
    expect(badDecision.stderrTail).toContain(
      "option '--decision <decision>' argument 'ok' is invalid. Allowed choices are accepted, remediation, risk-accepted.",
    );
    const blank = await signoff(failed.runId, 'alice', 'accepted', '--note', ' ');
    expect(blank.exitCode).toBe(2);
    expect(blank.stderrTail.trim()).toBe(
      `restore-drill: review of run ${failed.runId}: note: expected a note saying what was decided, got an empty string`,
    );
  });
});
