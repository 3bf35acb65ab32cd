// Runs a TypeScript module in a fresh Node process (Node 20 cannot strip types,
// and tsx is not a dependency). Usage: node test/helpers/run-ts.mjs <module.ts> [args...];
// the module's default export is called with the args and its return value becomes
// the exit code. When global setup found the tsc-compiled tree fresh (see
// compiled-tests.ts), the module's compiled twin is imported by plain Node; otherwise
// vite's runnerImport transforms it, as vitest does (seconds of CPU per child).
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';

// As the CLI does (bin/restore-drill.ts; the budget is src/evidence/wasm-budget.ts's): a child
// that opens PGlite keeps it on V8's baseline compiler, ~1.6 s less CPU than optimising it.
setFlagsFromString('--liftoff-only');
setFlagsFromString('--wasm-tiering-budget=1000000000');

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: run-ts.mjs <module.ts> [args...]');
  process.exit(2);
}
const projectRoot = resolve(import.meta.dirname, '../..');
const compiled = process.env.RESTORE_DRILL_COMPILED_TESTS;
if (compiled) {
  const twin = resolve(compiled, relative(projectRoot, resolve(file)).replace(/\.ts$/, '.js'));
  const module = await import(pathToFileURL(twin).href);
  const code = await module.default(args);
  process.exitCode = typeof code === 'number' ? code : 0;
} else {
  // runnerImport closes its module runner once the import settles, and the code under test loads
  // some modules lazily (import() at first use): so the whole run happens inside the import, in
  // run-ts-entry.mjs's top-level await, while the runner is still open.
  const { runnerImport } = await import('vite');
  globalThis.runTs = { file: resolve(file), args };
  const { module } = await runnerImport(resolve(import.meta.dirname, 'run-ts-entry.mjs'), {
    configFile: false,
    logLevel: 'silent',
  });
  process.exitCode = typeof module.exitCode === 'number' ? module.exitCode : 0;
}
