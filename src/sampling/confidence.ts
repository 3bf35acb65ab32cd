// Zero-failure acceptance sampling: how many items to restore so that, when every
// one of them restores and verifies, a share above `tolerance` of the set being
// unrestorable would have shown up with probability at least `confidence`.

/** A confidence-based sample request, both as fractions in (0, 1). */
export interface ConfidenceTarget {
  /** C: the probability that a set worse than `tolerance` would have been caught. */
  confidence: number;
  /** p: the share of unrestorable items the statement allows. */
  tolerance: number;
}

/**
 * The sample size for an unbounded set: n = ceil(ln(1−C) / ln(1−p)), the binomial
 * limit (299 for 95% / 1%).
 */
export function unboundedSampleSize({ confidence, tolerance }: ConfidenceTarget): number {
  return Math.ceil(Math.log(1 - confidence) / Math.log(1 - tolerance));
}

/**
 * The smallest number of unrestorable items that breaks the statement for a set of
 * `population`: more than a share p, i.e. floor(p·N) + 1.
 */
export function defectsBeyond(tolerance: number, population: number): number {
  return Math.floor(tolerance * population) + 1;
}

/**
 * Probability that a simple random draw of `drawn` out of `population` items holds
 * none of `defects` bad ones (hypergeometric, zero successes):
 * C(N−D, n) / C(N, n) = Π_{i<n} (N−D−i) / (N−i).
 */
export function missProbability(population: number, defects: number, drawn: number): number {
  let probability = 1;
  for (let i = 0; i < drawn; i++) {
    const good = population - defects - i;
    if (good <= 0) return 0;
    probability *= good / (population - i);
  }
  return probability;
}

/**
 * The smallest n such that a set of `population` items with floor(p·N)+1 bad ones
 * yields a flawless draw of n with probability at most 1−C (hypergeometric, so n
 * never exceeds N; for large N it approaches the binomial limit). 0 for an empty set.
 */
export function confidenceSampleSize(target: ConfidenceTarget, population: number): number {
  if (population <= 0) return 0;
  const defects = defectsBeyond(target.tolerance, population);
  const allowed = 1 - target.confidence;
  const limit = Math.min(population, unboundedSampleSize(target));
  let probability = 1;
  for (let n = 1; n <= limit; n++) {
    const good = population - defects - (n - 1);
    probability = good <= 0 ? 0 : (probability * good) / (population - (n - 1));
    if (probability <= allowed) return n;
  }
  return limit;
}

/**
 * The confidence a flawless draw of `drawn` items out of `population` gives that at
 * most a share `tolerance` is unrestorable: 1 − P(no bad item drawn | floor(p·N)+1 bad).
 * 1 when every item was drawn.
 */
export function achievedConfidence(tolerance: number, population: number, drawn: number): number {
  if (population <= 0 || drawn >= population) return 1;
  return 1 - missProbability(population, defectsBeyond(tolerance, population), drawn);
}
