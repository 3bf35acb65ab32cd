import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { pointImportsAt, vendorInto } from '../../scripts/bundle-vendor.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('pointImportsAt', () => {
  it('rewrites static, re-export and dynamic imports of the package, in either quotes', () => {
    const code = [
      "import { sql } from 'kysely';",
      'import { Kysely } from "kysely";',
      "export { sql as raw } from 'kysely';",
      "const lazy = await import('kysely');",
    ].join('\n');
    expect(pointImportsAt(code, 'kysely', '../vendor/kysely.js')).toBe(
      [
        "import { sql } from '../vendor/kysely.js';",
        'import { Kysely } from "../vendor/kysely.js";',
        "export { sql as raw } from '../vendor/kysely.js';",
        "const lazy = await import('../vendor/kysely.js');",
      ].join('\n'),
    );
  });

  it('leaves other packages, subpaths and a string that names it alone', () => {
    const code = [
      "import x from 'kysely-codegen';",
      "import { y } from 'kysely/helpers/postgres';",
      "const name = 'kysely';",
    ].join('\n');
    expect(pointImportsAt(code, 'kysely', './vendor/kysely.js')).toBe(code);
  });
});

describe('vendorInto', () => {
  it('bundles kysely into one module that the rewritten compiled code runs on', async () => {
    const dist = await mkdtemp(path.join(tmpdir(), 'restore-drill-vendor-'));
    dirs.push(dist);
    await mkdir(path.join(dist, 'src', 'evidence'), { recursive: true });
    const file = path.join(dist, 'src', 'evidence', 'query.js');
    await writeFile(
      file,
      [
        "import { Kysely, PostgresDialect } from 'kysely';",
        'const db = new Kysely({ dialect: new PostgresDialect({ pool: {} }) });',
        "export const compiled = db.selectFrom('run_results').select('run_id').where('seq', '>', 5).compile();",
      ].join('\n'),
    );
    await vendorInto(dist);
    expect(await readFile(file, 'utf8')).toContain("from '../../vendor/kysely.js'");
    const bundle = await readFile(path.join(dist, 'vendor', 'kysely.js'), 'utf8');
    // One self-contained module: nothing left for Node to resolve from node_modules.
    expect(bundle).not.toMatch(/^import .* from ['"][^./]/m);
    const { compiled } = (await import(pathToFileURL(file).href)) as {
      compiled: { sql: string; parameters: readonly unknown[] };
    };
    expect(compiled.sql).toBe('select "run_id" from "run_results" where "seq" > $1');
    expect(compiled.parameters).toEqual([5]);
  });
});
