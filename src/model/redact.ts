/**
 * Masks the values of `${env:NAME}` references wherever text leaves the process
 * (logs, evidence, CLI output), the way CI systems mask secrets: by value, so a
 * secret cannot leak through a field nobody thought of.
 */
export class Redactor {
  readonly #replacements = new Map<string, string>();

  /** Registers a resolved value; values shorter than 4 characters are too common to mask safely. */
  add(value: string, reference: string): void {
    if (value.length >= 4) this.#replacements.set(value, reference);
  }

  /** Forgets every value: a process that runs config after config (the test workers) starts over. */
  clear(): void {
    this.#replacements.clear();
  }

  get size(): number {
    return this.#replacements.size;
  }

  redact(text: string): string {
    let out = text;
    // Longest first, so a secret that contains another is masked whole.
    const values = [...this.#replacements.keys()].sort((a, b) => b.length - a.length);
    for (const value of values)
      out = out.split(value).join(this.#replacements.get(value) as string);
    return out;
  }

  /** Deep copy with every string redacted. */
  redactValue<T>(value: T): T {
    if (this.#replacements.size === 0) return value;
    return JSON.parse(this.redact(JSON.stringify(value))) as T;
  }
}

/** One process-wide redactor: config loading feeds it, every output path reads it. */
export const redactor = new Redactor();
