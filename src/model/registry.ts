/**
 * The kinds of one extension point (sources, checks, alert channels), by name.
 * Registering a name twice is an error, so two modules cannot silently claim one kind.
 */
export class KindRegistry<Kind extends { readonly kind: string }> {
  readonly #byName = new Map<string, Kind>();

  /** `what` names the extension point in errors: `'ftp' is not a source kind`. */
  constructor(
    private readonly what: string,
    kinds: readonly Kind[],
  ) {
    for (const kind of kinds) {
      if (this.#byName.has(kind.kind))
        throw new Error(`${what} kind '${kind.kind}' is registered twice`);
      this.#byName.set(kind.kind, kind);
    }
  }

  /** The registered names, in registration order. */
  get names(): readonly string[] {
    return [...this.#byName.keys()];
  }

  /** Every registered kind, in registration order. */
  get kinds(): readonly Kind[] {
    return [...this.#byName.values()];
  }

  get(name: string): Kind {
    const found = this.#byName.get(name);
    if (!found)
      throw new Error(
        `'${name}' is not a ${this.what} kind; expected one of ${this.names.map((n) => `'${n}'`).join(', ')}`,
      );
    return found;
  }
}
