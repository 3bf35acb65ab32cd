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
const { module } = await runnerImport(resolve(file), { configFile: false, logLevel: 'silent' });
const code = await module.default(args);
process.exitCode = typeof code === 'number' ? code : 0;
