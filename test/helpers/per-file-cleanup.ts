import { afterAll } from 'vitest';
import { killStartedProcesses } from './processes.js';
import { removeTempDirs } from './temp.js';

// A vitest setup file: it runs again for every test file, while helper modules are loaded once per
// worker (isolate is off), so the clean-up each helper needs after a file is registered here.
afterAll(async () => {
  killStartedProcesses();
  await removeTempDirs();
});
