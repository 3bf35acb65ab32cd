import { Migrator, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { EvidenceError } from '../../src/evidence/errors.js';
import {
  migrateToLatest,
  MigrationError,
  migrations,
  staticMigrationProvider,
} from '../../src/evidence/migrations/index.js';
import {
  engines,
  postgresEngine,
  SLOW_STORE_MS,
  type StorePlace,
} from '../helpers/evidence-engines.js';

describe.each(engines)('evidence migrations on %s', (_dialect, engine) => {
  let place: StorePlace | undefined;

  afterEach(async () => {
    await place?.cleanup();
    place = undefined;
  });

  it(
    'applies every migration on open, and nothing more on the next open',
    async () => {
      place = await engine.prepare({ empty: true });
      const store = await place.open();
      try {
        const applied = await store.db
          .selectFrom('kysely_migration' as never)
          .select('name' as never)
          .orderBy('name' as never)
          .execute();
        expect(applied.map((row) => (row as { name: string }).name)).toEqual(
          Object.keys(migrations),
        );
        const tables = await sql<{
          table_name: string;
        }>`select table_name from information_schema.tables
        where table_schema = 'public' and table_name like 'run_%' order by table_name`.execute(
          store.db,
        );
        expect(tables.rows.map((row) => row.table_name)).toEqual([
          'run_items',
          'run_results',
          'run_reviews',
          'run_skips',
          'run_starts',
        ]);
        const indexes = await sql<{
          indexname: string;
        }>`select indexname from pg_indexes where tablename = 'run_results' order by indexname`.execute(
          store.db,
        );
        expect(indexes.rows.map((row) => row.indexname)).toEqual(
          expect.arrayContaining([
            'run_results_drill_started_at_idx',
            'run_results_started_at_idx',
            'run_results_verdict_idx',
          ]),
        );
        expect(await migrateToLatest(store.db)).toEqual({ applied: [] });
      } finally {
        await store.close();
      }
      const reopened = await place.open();
      await reopened.close();
    },
    SLOW_STORE_MS,
  );

  it(
    'brings a store an older version left up to date: the migrations it lacks run on open',
    async () => {
      place = await engine.prepare({ empty: true });
      const names = Object.keys(migrations);
      const store = await place.open();
      try {
        // The schema as the version before the latest left it.
        const { error } = await new Migrator({
          db: store.db,
          provider: staticMigrationProvider,
        }).migrateDown();
        expect(error).toBeUndefined();
        const left = await sql<{ name: string }>`
          select name from kysely_migration order by name`.execute(store.db);
        expect(left.rows.map((row) => row.name)).toEqual(names.slice(0, -1));
      } finally {
        await store.close();
      }
      const reopened = await place.open();
      try {
        const applied = await sql<{ name: string }>`
          select name from kysely_migration order by name`.execute(reopened.db);
        expect(applied.rows.map((row) => row.name)).toEqual(names);
        expect(await migrateToLatest(reopened.db)).toEqual({ applied: [] });
      } finally {
        await reopened.close();
      }
    },
    SLOW_STORE_MS,
  );

  it(
    'refuses a store a newer version migrated, naming the migration it does not know',
    async () => {
      place = await engine.prepare({ empty: true });
      const store = await place.open();
      await store.close();
      await place.execRaw(
        `insert into kysely_migration (name, timestamp) values ('999-from-a-newer-version', '2026-12-07T00:00:00.000Z')`,
      );
      const failure = await place.open().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(MigrationError);
      expect((failure as Error).message).toBe(
        'evidence database migration failed: corrupted migrations: previously executed migration 999-from-a-newer-version is missing',
      );
    },
    SLOW_STORE_MS,
  );

  it(
    'names the failed migration and leaves the schema as it was',
    async () => {
      place = await engine.prepare({ empty: true });
      await place.execRaw('create table run_starts (unrelated int)');
      const failure = await place.open().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(MigrationError);
      expect(failure).toBeInstanceOf(EvidenceError);
      expect((failure as MigrationError).migrationName).toBe('001-initial');
      expect((failure as Error).message).toBe(
        'evidence database migration 001-initial failed: relation "run_starts" already exists',
      );
      // Rolled back as a whole: the tables the migration made before failing are gone too.
      await place.execRaw('drop table run_starts');
      const store = await place.open();
      await store.close();
    },
    SLOW_STORE_MS,
  );
});

describe('evidence migrations, two processes at once', () => {
  it(
    'PostgreSQL: two stores opening a new database together both open it, each migration applied once',
    async () => {
      const place = await postgresEngine.prepare();
      try {
        const stores = await Promise.all([place.open(), place.open()]);
        try {
          const applied = await sql<{ name: string }>`
            select name from kysely_migration order by name`.execute(stores[0].db);
          expect(applied.rows.map((row) => row.name)).toEqual(Object.keys(migrations));
        } finally {
          await Promise.all(stores.map((store) => store.close()));
        }
      } finally {
        await place.cleanup();
      }
    },
    SLOW_STORE_MS,
  );
});
