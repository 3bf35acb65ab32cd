import { describe, expect, it } from 'vitest';
import { resticComplaint } from '../../src/sources/restic-source.js';

describe('resticComplaint', () => {
  it("names restic's error, not the last line of the Go stack trace printed after it", () => {
    // restic 0.14 restoring a snapshot whose tree names a blob missing from the index.
    const stderr = [
      'Unknown blob 692771fcb01e8277d6dc3d5500ca02c0ed84dc5da26a20379c4b2ca83b1d8d77',
      'github.com/restic/restic/internal/restorer.(*fileRestorer).forEachBlob',
      '\tgithub.com/restic/restic/internal/restorer/filerestorer.go:96',
      'main.runRestore',
      '\tgithub.com/restic/restic/cmd/restic/cmd_restore.go:216',
      'runtime.goexit',
      '\truntime/asm_amd64.s:1594',
      '',
    ].join('\n');
    expect(resticComplaint(stderr)).toBe(
      'Unknown blob 692771fcb01e8277d6dc3d5500ca02c0ed84dc5da26a20379c4b2ca83b1d8d77',
    );
  });

  it('keeps the last line, without Fatal:, when there is no trace', () => {
    expect(
      resticComplaint('repository contains errors\nFatal: wrong password or no key found\n'),
    ).toBe('wrong password or no key found');
    expect(resticComplaint('')).toBe('');
  });
});
