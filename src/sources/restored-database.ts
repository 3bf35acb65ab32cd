/** Rows a query returned, as plain objects keyed by column name. */
export interface QueryRows {
  rows: Record<string, unknown>[];
  fields: { name: string }[];
}

/** Runs one SQL statement with positional parameters (`$1`…). */
export type QueryFn = (text: string, params?: readonly unknown[]) => Promise<QueryRows>;

/**
 * A database a source restored into (a scratch database on a PostgreSQL server, an
 * embedded PGlite): what checks may query. Only read-only access is offered, so a
 * check can never change what it verifies.
 */
export interface RestoredDatabase {
  /** Where it is, free of secrets: `postgres://host:5432/restore_drill_x_ab12cd34` or `pglite:<folder>`. */
  readonly location: string;
  /**
   * How a command reaches it (`checks.commands`' `{database_url}`): a URL without the
   * password, and the environment that carries it. Absent: no command can connect (PGlite).
   */
  commandAccess?(): { url: string; env: Record<string, string | undefined> };
  /**
   * Runs `fn` inside a READ ONLY transaction with a statement timeout; the
   * transaction is rolled back afterwards whatever happened.
   */
  readOnly<T>(
    fn: (query: QueryFn) => Promise<T>,
    options: { statementTimeoutMs: number },
  ): Promise<T>;
  /**
   * A writable session on the scratch database, its statements committed as they run:
   * only `selftest` uses it, to damage the scratch copy and put it back. Checks never do.
   */
  damageSession?(): Promise<DamageSession>;
}

/** One connection to a scratch database that may write (selftest only); temporary tables live as long as it. */
export interface DamageSession {
  query: QueryFn;
  close(): Promise<void>;
}
