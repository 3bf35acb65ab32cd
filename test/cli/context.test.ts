import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSpoolWaiting, spoolNeedsMention, spoolWaiting } from '../../src/cli/context.js';
import { parseConfig } from '../../src/config/load.js';
import { writeSpoolEntry } from '../../src/evidence/spool.js';
import { asUnprivileged, giveToUnprivileged } from '../helpers/as-user.js';
import { makeRecord } from '../helpers/run-records.js';
import { tempDir } from '../helpers/temp.js';

describe('spoolWaiting', () => {
  it('says the spool cannot be read (EACCES) when its folder may not be listed, then counts what waits once it may', async () => {
    const base = await tempDir('restore-drill-spool-eacces-');
    // Reachable by nobody: only the spool folder's own mode is in the way.
    await chmod(base, 0o755);
    const spool = path.join(base, 'spool');
    const record = makeRecord();
    const file = await writeSpoolEntry(spool, {
      spooledAt: record.finishedAt,
      reason: 'evidence store unavailable: connect ECONNREFUSED',
      record,
      items: [],
    });
    await giveToUnprivileged(spool, file);
    await chmod(spool, 0o000);
    const loaded = parseConfig(
      'spool: { path: spool }\ndrills:\n  - name: nightly\n    source: { kind: directory, path: /backups/* }\n',
      path.join(base, 'restore-drill.yaml'),
      {},
      base,
    );
    // As root every folder can be listed: the check runs as nobody.
    const hidden = await asUnprivileged(() => spoolWaiting(loaded));
    expect(hidden).toEqual({
      path: spool,
      waiting: 0,
      runs: [],
      oldestSpooledAt: null,
      unreadable: expect.stringMatching(/^EACCES: permission denied/) as unknown,
    });
    expect(spoolNeedsMention(hidden)).toBe(true);
    expect(formatSpoolWaiting(hidden)).toMatch(
      new RegExp(
        `^cannot read the spool ${spool}: EACCES.*; results waiting there, if any, are not in the evidence store$`,
      ),
    );

    await chmod(spool, 0o700);
    const seen = await asUnprivileged(() => spoolWaiting(loaded));
    expect(seen).toEqual({
      path: spool,
      waiting: 1,
      runs: [record.runId],
      oldestSpooledAt: record.finishedAt,
    });
  });
});
