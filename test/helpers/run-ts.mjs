// Runs a TypeScript module in a fresh Node process (Node 20 cannot strip types,
// and tsx is not a dependency): vite's runnerImport transforms it, as vitest does.
// Usage: node test/helpers/run-ts.mjs <module.ts> [args...]; the module's default
// export is called with the args and its return value becomes the exit code.
import { resolve } from 'node:path';
import { runnerImport } from 'vite';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: run-ts.mjs <module.ts> [args...]');
  process.exit(2);
}
// runnerImport closes its module runner once the import settles, and the code under test loads
// some modules lazily (import() at first use): so the whole run happens inside the import, in
// run-ts-entry.mjs's top-level await, while the runner is still open.
globalThis.runTs = { file: resolve(file), args };
const { module } = await runnerImport(resolve(import.meta.dirname, 'run-ts-entry.mjs'), {
  configFile: false,
  logLevel: 'silent',
});
process.exitCode = typeof module.exitCode === 'number' ? module.exitCode : 0;
