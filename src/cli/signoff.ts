import { Command, Option } from 'commander';
import { REVIEW_DECISIONS } from '../evidence/database.js';
import { EvidenceError } from '../evidence/errors.js';
import { recordReview, type StoredReview } from '../evidence/reviews.js';
import {
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  printJson,
  withCommonOptions,
  type CommonOptions,
} from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

interface SignoffOptions extends CommonOptions {
  by: string;
  decision: (typeof REVIEW_DECISIONS)[number];
  note: string;
  ticket?: string;
}

/** `restore-drill signoff RUN`: append a review (who, when, what was decided) to the evidence chain. */
export function signoffCommand(): Command {
  const command = new Command('signoff')
    .description(
      'Record a review of a run (typically a failed one): who reviewed it and what was decided, appended to the evidence chain; never editable, sign off again to add a later decision',
    )
    .argument('<runId>', 'run id or unique prefix')
    .requiredOption('--by <name>', 'who reviewed the run')
    .addOption(
      new Option('--decision <decision>', 'what was decided')
        .choices(REVIEW_DECISIONS)
        .makeOptionMandatory(),
    )
    .requiredOption('--note <text>', 'what was found and decided')
    .option('--ticket <id>', 'the remediation or risk ticket');
  withCommonOptions(command).action(async (runId: string, options: SignoffOptions) => {
    const loaded = await loadConfigOrExit(options);
    const store = await openStoreFor(loaded, loggerFor(options));
    let review: StoredReview;
    try {
      review = await recordReview(store.db, {
        runId,
        by: options.by,
        decision: options.decision,
        note: options.note,
        ticket: options.ticket ?? null,
        via: 'cli',
      });
    } catch (error) {
      if (error instanceof EvidenceError && error.code === 'unknown-run')
        throw new CliError(`${error.message}`, ExitCode.Usage, 'run.unknown');
      if (error instanceof EvidenceError && error.code === 'invalid-record')
        throw new CliError(error.message, ExitCode.Usage);
      if (error instanceof EvidenceError && error.code === 'ambiguous-run-id')
        throw new CliError(error.message, ExitCode.Usage);
      throw error;
    } finally {
      await store.close();
    }
    if (options.json) printJson(review);
    else process.stdout.write(`${formatReview(review)}\n`);
  });
  return command;
}

/** One review on one line: when, who, what, why. */
export function formatReview(review: StoredReview): string {
  return `${review.reviewedAt}  ${review.decision} by ${review.by}${review.ticket === null ? '' : ` (ticket ${review.ticket})`}: ${review.note}  [review of run ${review.runId}, #${review.seq} ${review.recordHash}]`;
}
