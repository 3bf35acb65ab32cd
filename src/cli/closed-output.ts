/** Set by commands whose work must end properly even when nobody reads their output any more. */
let finishWhenOutputCloses = false;

/**
 * `run` and `daemon` go on when their reader goes away (`run | head`): a drill
 * half done must still be recorded. Other commands just stop.
 */
export function keepWorkingWhenOutputCloses(): void {
  finishWhenOutputCloses = true;
}

/** Closed-pipe errors: the reader (`head`, `less` quit early) went away. */
function isClosedPipe(error: NodeJS.ErrnoException): boolean {
  return error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED';
}

/**
 * `restore-drill history | head` ends quietly with exit 0 when `head` has read
 * enough, instead of `write EPIPE` and exit 1. Other write errors still fail loudly.
 */
export function endQuietlyWhenOutputCloses(streams: readonly NodeJS.WriteStream[]): void {
  for (const stream of streams) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (!isClosedPipe(error)) throw error;
      if (!finishWhenOutputCloses) process.exit(0);
    });
  }
}
