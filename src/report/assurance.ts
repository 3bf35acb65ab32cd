import type { Assurance, RunRecord } from '../evidence/run-record.js';

/** What a set's items are called, by source kind. */
function itemNoun(sourceKind: string): string {
  if (sourceKind === 'postgres') return 'tables';
  if (sourceKind === 's3') return 'objects';
  return 'files';
}

/** A fraction as a percentage without trailing zeros: 0.95 -> '95%', 0.999999 -> '99.9999%'. */
function percent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(4))}%`;
}

function count(value: number): string {
  return value.toLocaleString('en-US');
}

/**
 * A confidence-based sample's statement in words, as reports and `show` print it:
 * "95% confidence that at most 1% of 48,210 files would fail to restore (297 restored
 * and verified)", or why the run gives none. Null for a run without such a sample.
 */
export function describeAssurance(record: Pick<RunRecord, 'sample' | 'sourceKind'>): string | null {
  const stated: Assurance | undefined = record.sample?.assurance;
  if (!stated) return null;
  const claim = `at most ${percent(stated.tolerance)} of ${count(stated.population)} ${itemNoun(record.sourceKind)} would fail to restore`;
  if (stated.achieved === null)
    return `no assurance: the run could not judge its sample of ${count(stated.drawn)}, so nothing is said about whether ${claim} (${percent(stated.confidence)} confidence was asked for)`;
  if (stated.achieved === 0)
    return `no assurance: the run failed, which voids the statement that ${claim} (${percent(stated.confidence)} confidence was asked for)`;
  const short = stated.achieved < stated.confidence;
  const shown = short
    ? percent(Math.floor(stated.achieved * 1000) / 1000)
    : percent(stated.confidence);
  return `${shown} confidence that ${claim} (${count(stated.drawn)} restored and verified${short ? `, short of the ${percent(stated.confidence)} asked for` : ''})`;
}
