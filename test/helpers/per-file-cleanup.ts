import { afterAll, beforeAll, vi } from 'vitest';
import { redactor } from '../../src/model/redact.js';
import { killStartedProcesses } from './processes.js';
import { removeTempDirs } from './temp.js';

// A vitest setup file: it runs again for every test file, while modules are loaded once per worker
// (isolate is off). So what one file leaves behind in the process is undone here, before the next
// file runs: its processes and temporary folders, the secrets its configs registered for
// redaction, fake timers, spies and stubs, environment variables and the umask.
let envAtStart: Record<string, string | undefined> = {};
let umaskAtStart = 0o022;

beforeAll(() => {
  envAtStart = { ...process.env };
  // Reading the umask means setting it (process.umask() without an argument is deprecated).
  umaskAtStart = process.umask(0o022);
  process.umask(umaskAtStart);
});

afterAll(async () => {
  killStartedProcesses();
  await removeTempDirs();
  redactor.clear();
  vi.useRealTimers();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  for (const name of Object.keys(process.env))
    if (!(name in envAtStart)) Reflect.deleteProperty(process.env, name);
  for (const [name, value] of Object.entries(envAtStart))
    if (value !== undefined && process.env[name] !== value) process.env[name] = value;
  process.umask(umaskAtStart);
});
