import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { CAUSE_CODES, causeCodeOf, causeCodes, formatCause } from '../../src/model/causes.js';

describe('cause codes', () => {
  test('docs/causes.md lists exactly the codes of the model, in its order', async () => {
    const page = await readFile(new URL('../../docs/causes.md', import.meta.url), 'utf8');
    const documented = [...page.matchAll(/^\| `([^`]+)` \| (.+) \|$/gm)].map((m) => m[1]);
    expect(documented).toEqual(causeCodes);
    for (const [code, meaning] of Object.entries(CAUSE_CODES))
      expect(page).toContain(`| \`${code}\` | ${meaning} |`);
  });

  test('a cause starts with its code and reads back to it', () => {
    const cause = formatCause('restore.damaged', 'truncated gzip at data/a.csv');
    expect(cause).toBe('restore.damaged: truncated gzip at data/a.csv');
    expect(causeCodeOf(cause)).toBe('restore.damaged');
    expect(causeCodeOf('timeout: drill exceeded its timeout of 100 ms')).toBe('timeout');
  });

  test('a cause from before codes, or with an unknown code, has none', () => {
    expect(causeCodeOf('manifest: 2 files differ')).toBeNull();
    expect(causeCodeOf('source.nonsense: x')).toBeNull();
    expect(causeCodeOf('no backup set matched directory source /b')).toBeNull();
  });
});
