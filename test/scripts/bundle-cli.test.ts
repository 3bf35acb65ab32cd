import module, { builtinModules } from 'node:module';
import { cp, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  bundleCli,
  checkWorkerSources,
  CHUNKS_DIR,
  ENTRY,
  EXTERNAL,
} from '../../scripts/bundle-cli.js';
import { runCommand } from '../../src/exec/run-command.js';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

/**
 * Packages that inlined CommonJS code requires inside a try, left to Node: pg's native client
 * (only on `pg.native`, not installed) and fdir's optional picomatch.
 */
const OPTIONAL_REQUIRES = ['pg-native', 'picomatch'];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST = path.join(ROOT, 'dist');

/** Every package a bundled module still loads at run time: `from "x"`, `import("x")`, `require("x")`. */
function bareImports(code: string): string[] {
  const specifiers = [
    ...code.matchAll(
      /^(?:import|export)\b[^;\n]*?(?:\bfrom\s*|\bimport\s*)["']([^"'\s]+)["'];?$/gm,
    ),
    ...code.matchAll(/\bimport\(\s*["']([^"'\s]+)["']\s*\)/g),
    ...code.matchAll(/\b__require\$?\d*\(\s*["']([^"'\s]+)["']\s*\)/g),
  ].map((match) => match[1] as string);
  return specifiers.filter(
    (specifier) =>
      !specifier.startsWith('.') &&
      !specifier.startsWith('node:') &&
      !builtinModules.includes(specifier),
  );
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/** A scratch package root that resolves packages from this checkout's node_modules. */
async function packageRoot(prefix: string): Promise<string> {
  const root = await tempDir(prefix);
  await symlink(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  await writeFile(
    path.join(root, 'package.json'),
    JSON.stringify({ name: 'bundle-fixture', version: '9.8.7', type: 'module' }),
  );
  return root;
}

async function node(args: readonly string[], cwd: string) {
  return runCommand(process.execPath, [...args], {
    keepStdout: true,
    timeoutMs: 50_000,
    cwd,
    env: {
      RESTORE_DRILL_LOG_FORMAT: 'json',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  });
}

describe('bundleCli', () => {
  it('inlines dependencies, splits each dynamic import into a chunk and keeps EXTERNAL packages', async () => {
    const root = await packageRoot('restore-drill-bundle-');
    const dist = path.join(root, 'dist');
    await mkdir(path.join(dist, 'bin'), { recursive: true });
    await mkdir(path.join(dist, 'src'), { recursive: true });
    await writeFile(
      path.join(dist, ENTRY),
      [
        '#!/usr/bin/env node',
        "import { Command } from 'commander';",
        "const { where } = await import('../src/where.js');",
        'process.stdout.write(JSON.stringify({ command: new Command("x").name(), ...where() }));',
      ].join('\n'),
    );
    await writeFile(
      path.join(dist, 'src', 'where.js'),
      [
        "import { readFileSync } from 'node:fs';",
        "import { PGlite } from '@electric-sql/pglite';",
        'export const where = () => ({',
        "  version: JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version,",
        '  pglite: typeof PGlite,',
        '});',
      ].join('\n'),
    );

    const { files } = await bundleCli(dist);

    expect(files[0]).toBe(ENTRY);
    expect(files.slice(1).every((file) => file.startsWith(`${CHUNKS_DIR}/`))).toBe(true);
    const entry = await readFile(path.join(dist, ENTRY), 'utf8');
    expect(entry.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(bareImports(entry)).toEqual([]);
    const chunks = await Promise.all(
      files.slice(1).map((file) => readFile(path.join(dist, file), 'utf8')),
    );
    expect(chunks.flatMap(bareImports)).toEqual(['@electric-sql/pglite']);
    // The lazily imported module is a chunk of its own, loaded only when reached.
    expect(entry).toMatch(/import\(["']\.\.\/chunks\/where-[\w-]+\.js["']\)/);
    const result = await node([path.join(dist, ENTRY)], root);
    expect(result.exitCode, result.stderrTail).toBe(0);
    // From dist/chunks/, '../../package.json' is the package's own, as from dist/src/.
    expect(JSON.parse(result.stdout)).toEqual({
      command: 'x',
      version: '9.8.7',
      pglite: 'function',
    });

    await expect(bundleCli(dist)).rejects.toThrow(
      `${path.join(dist, ENTRY)} is already a bundle: run tsc -p tsconfig.build.json first`,
    );
  });

  it('fails the build on an import it cannot resolve, naming it', async () => {
    const root = await packageRoot('restore-drill-bundle-missing-');
    const dist = path.join(root, 'dist');
    await mkdir(path.join(dist, 'bin'), { recursive: true });
    await writeFile(
      path.join(dist, ENTRY),
      "import { nothing } from 'no-such-package-here';\nconsole.log(nothing);\n",
    );
    await expect(bundleCli(dist)).rejects.toThrow(/no-such-package-here/);
  });
});

describe('checkWorkerSources', () => {
  const body = (loads: string) =>
    [
      'function workerMain() {',
      `  const fs = ${loads}('node:fs');`,
      '  fs.writeSync(1, "hi");',
      '}',
      'export const SOURCE = `(${workerMain.toString()})();`;',
    ].join('\n');

  it('refuses a worker body run from its source text that calls require, naming the file', () => {
    expect(() => checkWorkerSources('src/scratch/w.js', body('require'))).toThrow(
      'src/scratch/w.js: runs a function from its source text (toString) and calls require(); ' +
        'the bundle rewrites require, so take built-ins from process.getBuiltinModule',
    );
  });

  it('accepts process.getBuiltinModule there, and require or createRequire elsewhere', () => {
    expect(() =>
      checkWorkerSources('src/scratch/w.js', body('process.getBuiltinModule')),
    ).not.toThrow();
    expect(() =>
      checkWorkerSources('src/a.js', "const x = require('node:fs'); x.toString;"),
    ).not.toThrow();
    expect(() =>
      checkWorkerSources('src/b.js', "createRequire(import.meta.url)('p'); f.toString();"),
    ).not.toThrow();
  });

  it('fails the build on such a module', async () => {
    const root = await packageRoot('restore-drill-bundle-worker-');
    const dist = path.join(root, 'dist');
    await mkdir(path.join(dist, 'bin'), { recursive: true });
    await mkdir(path.join(dist, 'src'), { recursive: true });
    await writeFile(path.join(dist, 'src', 'w.js'), body('require'));
    await writeFile(
      path.join(dist, ENTRY),
      "import { SOURCE } from '../src/w.js';\nconsole.log(SOURCE);\n",
    );
    await expect(bundleCli(dist)).rejects.toThrow(
      `${path.join('src', 'w.js')}: runs a function from its source text`,
    );
  });
});

describe('the built CLI (npm run build)', () => {
  it('loads only node built-ins, its own chunks and the EXTERNAL packages', async () => {
    const chunkFiles = (await readdir(path.join(DIST, CHUNKS_DIR))).filter((name) =>
      name.endsWith('.js'),
    );
    expect(chunkFiles.length).toBeGreaterThan(1);
    const codes = await Promise.all(
      [CLI, ...chunkFiles.map((name) => path.join(DIST, CHUNKS_DIR, name))].map((file) =>
        readFile(file, 'utf8'),
      ),
    );
    const loaded = new Set(codes.flatMap(bareImports).map(packageOf));
    const allowed: string[] = [...EXTERNAL, ...OPTIONAL_REQUIRES];
    expect([...loaded].filter((name) => !allowed.includes(name))).toEqual([]);
    expect(loaded).toContain('@electric-sql/pglite');
    expect(loaded).toContain('better-sqlite3');
  });

  it('keeps V8 compile caches of its chunks where Node has module.enableCompileCache (22.1+)', async () => {
    const tmp = await tempDir('restore-drill-compile-cache-');
    const help = await runCommand(process.execPath, [CLI, '--help'], {
      keepStdout: true,
      timeoutMs: 50_000,
      env: { TMPDIR: tmp, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined },
    });
    expect(help.exitCode, help.stderrTail).toBe(0);
    const cached = await readdir(path.join(tmp, 'node-compile-cache'), { recursive: true }).catch(
      () => [],
    );
    const hasCache = 'enableCompileCache' in module;
    expect(cached.length > 0).toBe(hasCache);
  });

  it('runs from a copy of its bin, chunks and seed beside package.json, config/ and node_modules', async () => {
    const root = await tempDir('restore-drill-bundle-copy-');
    await symlink(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
    for (const part of [
      'package.json',
      'config/restore-drill.schema.json',
      `dist/${path.dirname(ENTRY)}`,
      `dist/${CHUNKS_DIR}`,
      'dist/pglite-seed',
    ])
      await cp(path.join(ROOT, part), path.join(root, part), { recursive: true });
    const bin = path.join(root, 'dist', ENTRY);
    const work = path.join(root, 'work');
    for (const set of ['s1', 's2']) {
      await mkdir(path.join(work, 'sets', set, 'docs'), { recursive: true });
      await writeFile(path.join(work, 'sets', set, 'docs', 'a.txt'), `alpha ${set}\n`);
      await writeFile(
        path.join(work, 'sets', set, 'SHA256SUMS'),
        (
          await runCommand('sha256sum', ['docs/a.txt'], {
            keepStdout: true,
            cwd: path.join(work, 'sets', set),
          })
        ).stdout,
      );
    }

    const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const shown = await node([bin, '--version'], work);
    expect(shown.stdout.trim()).toBe(version);
    const init = await node([bin, 'init', 'sets'], work);
    expect(init.exitCode, init.stderrTail).toBe(0);
    const config = await readFile(path.join(work, 'config', 'restore-drill.yaml'), 'utf8');
    const schema = /^# yaml-language-server: \$schema=(.+)$/.exec(config.split('\n')[0] ?? '');
    expect(path.resolve(work, 'config', schema?.[1] ?? '')).toBe(
      path.join(root, 'config', 'restore-drill.schema.json'),
    );
    const run = await node([bin, 'run', '--json'], work);
    expect(run.exitCode, run.stderrTail).toBe(0);
    const { runs } = JSON.parse(run.stdout) as { runs: { verdict: string }[] };
    expect(runs.map((drill) => drill.verdict)).toEqual(['passed']);
  });
});
