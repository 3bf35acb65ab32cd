import { createHash } from 'node:crypto';

/** The seed of a run's draw: derived from the drill and its slot, so an auditor can re-derive it. */
export function deriveSeed(drill: string, slot: string): string {
  return createHash('sha256')
    .update(`restore-drill/v1\0${drill}\0${slot}`)
    .digest('hex')
    .slice(0, 32);
}

/**
 * A reproducible uniform generator in [0, 1) from a text seed (sfc32 seeded from
 * SHA-256): the same seed gives the same sequence on every platform and Node version.
 */
export function seededRandom(seed: string): () => number {
  const digest = createHash('sha256').update(seed).digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}
