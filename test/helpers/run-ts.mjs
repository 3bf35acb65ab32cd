// Runs a TypeScript module in a fresh Node process (Node 20 cannot strip types,
// and tsx is not a dependency). Usage: node test/helpers/run-ts.mjs <module.ts> [args...];
// the module's default export is called with the args and its return value becomes
// the exit code. When global setup found the tsc-compiled tree fresh (see
// compiled-tests.ts), the module's compiled twin is imported by plain Node; otherwise
// vite's runnerImport transforms it, as vitest does (seconds of CPU per child).
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: run-ts.mjs <module.ts> [args...]');
  process.exit(2);
}
const projectRoot = resolve(import.meta.dirname, '../..');
const compiled = process.env.RESTORE_DRILL_COMPILED_TESTS;
let module;
if (compiled) {
  const twin = resolve(compiled, relative(projectRoot, resolve(file)).replace(/\.ts$/, '.js'));
  module = await import(pathToFileURL(twin).href);
} else {
  const { runnerImport } = await import('vite');
  ({ module } = await runnerImport(resolve(file), { configFile: false, logLevel: 'silent' }));
}
const code = await module.default(args);
process.exitCode = typeof code === 'number' ? code : 0;
