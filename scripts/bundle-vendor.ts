/**
 * Part of `npm run build`: kysely's ESM build is 263 modules, and loading them cost about
 * 0.25 s of CPU in every CLI call that opens the evidence store (one bundled module: 0.04 s).
 * The build bundles kysely, unchanged, into dist/vendor/kysely.js and points the compiled
 * imports of 'kysely' in dist/ at it. The sources and the tests still import the package.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'rolldown';

/** The packages bundled into dist/vendor/<name>.js. */
export const VENDORED = ['kysely'] as const;

/** `import … from 'name'`, `export … from 'name'` and `import('name')`, with either quote. */
function importsOf(name: string): RegExp {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(\\bfrom\\s*|\\bimport\\s*\\(\\s*)(['"])${escaped}\\2`, 'g');
}

/** `code` with every import of the package `name` pointing at the module `target` instead. */
export function pointImportsAt(code: string, name: string, target: string): string {
  return code.replace(importsOf(name), (_match, lead: string, quote: string) => {
    return `${lead}${quote}${target}${quote}`;
  });
}

/** Bundles `name` (its ESM entry, as Node resolves it from here) into the one file `outFile`. */
export async function bundlePackage(name: string, outFile: string): Promise<void> {
  await mkdir(path.dirname(outFile), { recursive: true });
  await build({
    input: fileURLToPath(import.meta.resolve(name)),
    output: { file: outFile, format: 'esm' },
    platform: 'node',
    logLevel: 'silent',
    write: true,
  });
}

async function compiledFiles(dir: string, skip: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.js'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => !file.startsWith(skip));
}

/** Bundles every vendored package into `<dist>/vendor` and rewrites dist's imports of them. */
export async function vendorInto(dist: string): Promise<void> {
  const vendorDir = path.join(dist, 'vendor');
  for (const name of VENDORED) await bundlePackage(name, path.join(vendorDir, `${name}.js`));
  for (const file of await compiledFiles(dist, vendorDir + path.sep)) {
    const code = await readFile(file, 'utf8');
    let rewritten = code;
    for (const name of VENDORED) {
      const relative = path.relative(path.dirname(file), path.join(vendorDir, `${name}.js`));
      rewritten = pointImportsAt(
        rewritten,
        name,
        relative.startsWith('.') ? relative : `./${relative}`,
      );
    }
    if (rewritten !== code) await writeFile(file, rewritten);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await vendorInto(fileURLToPath(new URL('../', import.meta.url)));
