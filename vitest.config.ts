import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // PGlite's first initdb runs in WASM (3–8 s); real servers start in ~1.5 s.
    hookTimeout: 60_000,
    testTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
