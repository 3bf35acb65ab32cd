import type { PGlite } from '@electric-sql/pglite';
import type { DamageSession, QueryFn, RestoredDatabase } from '../restored-database.js';

/** An embedded PGlite database a plain dump was loaded into; closed by the source's dispose. */
export class PgliteDatabase implements RestoredDatabase {
  readonly location: string;

  constructor(
    private readonly lite: PGlite,
    dataDir: string,
  ) {
    this.location = `pglite:${dataDir}`;
  }

  async readOnly<T>(
    fn: (query: QueryFn) => Promise<T>,
    options: { statementTimeoutMs: number },
  ): Promise<T> {
    await this.lite.exec('begin transaction read only');
    try {
      await this.lite.exec(
        `set local statement_timeout = ${Math.max(0, Math.round(options.statementTimeoutMs))}`,
      );
      const query: QueryFn = async (text, params) => {
        const result = await this.lite.query<Record<string, unknown>>(
          text,
          params ? [...params] : [],
        );
        return { rows: result.rows, fields: result.fields.map((field) => ({ name: field.name })) };
      };
      return await fn(query);
    } finally {
      await this.lite.exec('rollback').catch(() => undefined);
    }
  }

  /** PGlite has one session: the damage's temporary tables share it with the checks, which never list them. */
  damageSession(): Promise<DamageSession> {
    return Promise.resolve({
      query: async (text, params) => {
        const result = await this.lite.query<Record<string, unknown>>(
          text,
          params ? [...params] : [],
        );
        return { rows: result.rows, fields: result.fields.map((field) => ({ name: field.name })) };
      },
      close: () => Promise.resolve(),
    });
  }
}
