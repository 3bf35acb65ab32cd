import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

/**
 * The layers of src/, highest first. A folder imports only folders of its own layer or
 * below (never a loop within a layer); `model` imports nothing of the project. A new
 * folder goes in this table: the test names it until it does.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['cli', 'init'],
  ['schedule', 'metrics'],
  ['drill'],
  ['config'],
  ['sources', 'checks', 'alerts', 'report', 'sampling'],
  ['evidence', 'manifest', 'records', 'scratch', 'exec'],
  ['log'],
  ['model', 'version.ts'],
];

const layerOf = new Map(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank] as const)));

interface Import {
  file: string;
  from: string;
  to: string;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** The top folder of src/ a path is in (`version.ts` for the file at the top). */
function folderOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0] ?? '';
}

/** Every import, `export … from` and `import()` between two folders of src/, types included. */
async function crossFolderImports(): Promise<Import[]> {
  const imports: Import[] = [];
  for (const file of await sourceFiles(SRC)) {
    const text = await readFile(file, 'utf8');
    for (const imported of ts.preProcessFile(text, true, true).importedFiles) {
      if (!imported.fileName.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), imported.fileName).replace(/\.js$/, '.ts');
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) imports.push({ file: path.relative(SRC, file), from, to });
    }
  }
  return imports;
}

/** Folder loops: strongly connected groups of more than one folder (Tarjan). */
function loops(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (stack.includes(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member !== undefined) group.push(member);
    } while (member !== undefined && member !== node);
    if (group.length > 1) found.push(group.sort());
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('layers of src/', () => {
  test('every folder of src/ has a layer', async () => {
    const folders = [...new Set((await sourceFiles(SRC)).map(folderOf))].sort();
    expect(folders.filter((folder) => !layerOf.has(folder))).toEqual([]);
  });

  test('imports point down the layers: none goes up', async () => {
    const upward = (await crossFolderImports())
      .filter(({ from, to }) => (layerOf.get(to) ?? -1) < (layerOf.get(from) ?? -1))
      .map(({ file, to }) => `${file} imports ${to}/, a higher layer`);
    expect(upward).toEqual([]);
  });

  test('no import loop between folders', async () => {
    const edges = new Map<string, Set<string>>();
    for (const { from, to } of await crossFolderImports()) {
      const targets = edges.get(from) ?? new Set<string>();
      targets.add(to);
      edges.set(from, targets);
    }
    expect(loops(edges)).toEqual([]);
  });

  test('the loop finder finds a loop, so the test above can fail', () => {
    const edges = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
      ['d', new Set(['a'])],
    ]);
    expect(loops(edges)).toEqual([['a', 'b', 'c']]);
  });
});
