/**
 * V8's tier-up budget option for WebAssembly functions, set so high that the embedded store's
 * PostgreSQL (PGlite) never leaves the baseline compiler. The CLI sets it at start-up;
 * the test workers get it on their command line (vitest.config.ts).
 */
export const WASM_TIERING_OPTION = '--wasm-tiering-budget=1000000000';
