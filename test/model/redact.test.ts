import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/model/redact.js';

describe('Redactor', () => {
  it('masks every registered value by value, the longest first, and leaves short ones alone', () => {
    const redactor = new Redactor();
    redactor.add('s3cr3t', '${env:PART}');
    redactor.add('s3cr3t-and-more', '${env:WHOLE}');
    redactor.add('abc', '${env:SHORT}');
    expect(redactor.size).toBe(2);
    expect(redactor.redact('a s3cr3t-and-more, b s3cr3t, c abc')).toBe(
      'a ${env:WHOLE}, b ${env:PART}, c abc',
    );
    expect(redactor.redactValue({ url: 'https://u:s3cr3t@host', n: 1 })).toEqual({
      url: 'https://u:${env:PART}@host',
      n: 1,
    });
  });

  it('forgets every value on clear, so the next config of a long-lived process starts over', () => {
    const redactor = new Redactor();
    redactor.add('pa55-word', '****');
    expect(redactor.redact('pa55-word')).toBe('****');
    redactor.clear();
    expect(redactor.size).toBe(0);
    expect(redactor.redact('pa55-word')).toBe('pa55-word');
  });
});
