import { describe, expect, it } from 'vitest';
import {
  MAX_REFUSED_PER_ADDRESS,
  MAX_REFUSED_PER_USER,
  ReviewerSessions,
  SIGNIN_WINDOW_MS,
} from '../../../src/report/server/reviewers.js';

// The sign-in throttle on its own, with a clock the test moves: a few refused
// sign-ins per user name or per address within a minute, then a wait.

function throttled() {
  let now = Date.parse('2026-12-07T01:00:00.000Z');
  const sessions = new ReviewerSessions(
    [{ user: 'alice', password: 'alice-password-0123' }],
    () => new Date(now),
  );
  return { sessions, advance: (ms: number) => (now += ms) };
}

describe('reviewer sign-in throttle', () => {
  it('makes a user name wait after five refused sign-ins within a minute, until the oldest is a minute old', () => {
    const { sessions, advance } = throttled();
    for (let attempt = 0; attempt < MAX_REFUSED_PER_USER; attempt++) {
      expect(sessions.signInWait('alice', '10.0.0.1')).toBeNull();
      sessions.signInRefused('alice', `10.0.0.${attempt + 1}`);
      advance(1_000);
    }
    // From any address: the user name is what is guessed at.
    expect(sessions.signInWait('alice', '10.0.0.99')).toBe(SIGNIN_WINDOW_MS - 5_000);
    expect(sessions.signInWait('bob', '10.0.0.99')).toBeNull();
    advance(SIGNIN_WINDOW_MS - 5_000);
    expect(sessions.signInWait('alice', '10.0.0.99')).toBeNull();
  });

  it('makes an address wait after ten refused sign-ins within a minute, whatever the user names', () => {
    const { sessions, advance } = throttled();
    for (let attempt = 0; attempt < MAX_REFUSED_PER_ADDRESS; attempt++) {
      sessions.signInRefused(`guess-${attempt}`, '10.0.0.7');
      advance(100);
    }
    expect(sessions.signInWait('alice', '10.0.0.7')).toBe(SIGNIN_WINDOW_MS - 1_000);
    expect(sessions.signInWait('alice', '10.0.0.8')).toBeNull();
  });

  it('forgets a user name’s refusals once they sign in, but not the address’s', () => {
    const { sessions } = throttled();
    for (let attempt = 0; attempt < MAX_REFUSED_PER_USER - 1; attempt++)
      sessions.signInRefused('alice', '10.0.0.1');
    sessions.signInAccepted('alice');
    sessions.signInRefused('alice', '10.0.0.1');
    expect(sessions.signInWait('alice', '10.0.0.2')).toBeNull();
    for (let attempt = 0; attempt < MAX_REFUSED_PER_ADDRESS - MAX_REFUSED_PER_USER; attempt++)
      sessions.signInRefused(`other-${attempt}`, '10.0.0.1');
    expect(sessions.signInWait('carol', '10.0.0.1')).not.toBeNull();
  });
});
