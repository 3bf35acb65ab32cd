/**
 * Part of `npm run build`, after tsc and bundle-vendor: bundles the CLI. Unbundled, a CLI
 * call loaded 400–600 modules (its own and its dependencies') and spent most of its start-up
 * in Node's module loader; bundled, it loads a few dozen.
 *
 * Layout: tsc writes dist/ as before (dist/src, dist/jobs, dist/scripts, dist/bench: the
 * demo, the benchmark and the schema writer import them). This step then replaces
 * dist/bin/restore-drill.js, tsc's output and the bundle's input, with the bundle's entry,
 * and writes what it imports, eagerly or on demand, into dist/chunks/. A verb still loads
 * only its own chunks: every dynamic `import()` stays one. dist/chunks/ sits two folders
 * below the package root, as dist/src/*.js does, so the paths that version.ts, cli/init.ts
 * and evidence/pglite-seed.ts build from `import.meta.url` find package.json, config/ and
 * dist/pglite-seed/ from either.
 *
 * The project and its pure-JS dependencies are inlined; EXTERNAL stay real packages.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'rolldown';

/**
 * Loaded from node_modules at run time: PGlite reads its .wasm, .data and extension
 * tarballs beside its own files, better-sqlite3 is native, and pino-pretty is required
 * through `createRequire` only on a terminal.
 */
export const EXTERNAL = ['@electric-sql/pglite', 'better-sqlite3', 'pino-pretty'] as const;

/** Where the entry's lazily and eagerly imported modules go, relative to dist/. */
export const CHUNKS_DIR = 'chunks';

/** The CLI entry, relative to dist/: package.json's `bin`. */
export const ENTRY = 'bin/restore-drill.js';

function isExternal(id: string): boolean {
  return EXTERNAL.some((name) => id === name || id.startsWith(`${name}/`));
}

/** A bare `require(…)` call (not `createRequire(…)` or `x.require(…)`). */
const BARE_REQUIRE = /(?<![\w$.])require\s*\(/;

/**
 * Refuses a project module that runs a function from its own source text (a worker body,
 * `fn.toString()`) and calls a bare `require`: the bundler rewrites that `require` into a
 * name of the bundle's, which the worker thread does not have. Such bodies take built-ins
 * from `process.getBuiltinModule`.
 */
export function checkWorkerSources(file: string, code: string): void {
  if (code.includes('.toString()') && BARE_REQUIRE.test(code))
    throw new Error(
      `${file}: runs a function from its source text (toString) and calls require(); ` +
        'the bundle rewrites require, so take built-ins from process.getBuiltinModule',
    );
}

/**
 * Hands each of dist's compiled modules to the bundler with tsc's source map, so the
 * bundle's map leads back to the TypeScript sources as dist's own maps do, after
 * `checkWorkerSources`.
 */
function compiledModules(dist: string): Plugin {
  return {
    name: 'compiled-modules',
    async load(id) {
      if (!id.startsWith(dist + path.sep) || !id.endsWith('.js')) return null;
      const code = await readFile(id, 'utf8');
      checkWorkerSources(path.relative(dist, id), code);
      const map = await readFile(`${id}.map`, 'utf8').catch(() => null);
      return map === null ? code : { code, map };
    },
  };
}

/** The chunk files written (relative to dist/), the entry first. */
export interface CliBundle {
  files: string[];
}

/** Bundles `<dist>/bin/restore-drill.js` (tsc's output) in place, with its chunks. */
export async function bundleCli(distDir: string): Promise<CliBundle> {
  const dist = path.resolve(distDir);
  const entry = path.join(dist, ENTRY);
  const compiled = await readFile(entry, 'utf8');
  if (compiled.includes(`../${CHUNKS_DIR}/`))
    throw new Error(`${entry} is already a bundle: run tsc -p tsconfig.build.json first`);
  await rm(path.join(dist, CHUNKS_DIR), { recursive: true, force: true });
  const warnings: string[] = [];
  const result = await build({
    input: { 'restore-drill': entry },
    external: isExternal,
    platform: 'node',
    plugins: [compiledModules(dist)],
    onLog: (level, log) => {
      if (level === 'warn') warnings.push(log.message);
    },
    output: {
      dir: dist,
      format: 'esm',
      entryFileNames: 'bin/[name].js',
      chunkFileNames: `${CHUNKS_DIR}/[name]-[hash].js`,
      sourcemap: true,
      sourcemapExcludeSources: true,
    },
    write: true,
  });
  // An import the bundler cannot resolve would fail only when a user reaches it.
  if (warnings.length > 0) throw new Error(`bundling ${entry}: ${warnings.join('; ')}`);
  return {
    files: result.output.filter((file) => file.type === 'chunk').map((chunk) => chunk.fileName),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await bundleCli(fileURLToPath(new URL('../', import.meta.url)));
