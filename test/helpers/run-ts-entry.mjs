// Evaluated by run-ts.mjs inside vite's module runner: runs the module's default export
// during this module's evaluation, so lazy import()s inside it still find the runner open.
const { file, args } = globalThis.runTs;
const module = await import(file);
export const exitCode = await module.default(args);
