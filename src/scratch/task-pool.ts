/**
 * Runs async tasks a few at a time, so a restore keeps the disk busy without its
 * memory growing with the set. The first failure stops new tasks; `drain()` waits
 * for those running and rethrows it. No rejection is ever left unhandled.
 */
export class TaskPool {
  readonly #limit: number;
  readonly #running = new Set<Promise<void>>();
  #failure: { error: unknown } | null = null;

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Waits for a free slot, then starts `task`; throws the first failure of an earlier task. */
  async run(task: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.#limit) await Promise.race(this.#running);
    if (this.#failure) throw this.#failure.error;
    const running: Promise<void> = task()
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => this.#running.delete(running));
    this.#running.add(running);
  }

  /** Waits for every task; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
    if (this.#failure) throw this.#failure.error;
  }

  /** Waits for every task, ignoring failures: used on the way out of a failed restore. */
  async settle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled(this.#running);
  }
}
