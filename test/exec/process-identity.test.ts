import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  isProcessAlive,
  ownProcessIdentity,
  processIdentityOf,
} from '../../src/exec/process-identity.js';
import { makeZombie, procState, startSleeper } from '../helpers/processes.js';

describe('the liveness of a run’s process', () => {
  it('records this process’s start ticks and the boot id from /proc', () => {
    const own = ownProcessIdentity();
    expect(own.processStart).toBeGreaterThan(0);
    expect(own.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(isProcessAlive(process.pid, own)).toBe(true);
  });

  it('counts a live process with the recorded start time as alive', () => {
    const sleeper = startSleeper();
    const identity = processIdentityOf(sleeper.pid);
    expect(identity?.processStart).toBeGreaterThan(0);
    expect(isProcessAlive(sleeper.pid, identity ?? {})).toBe(true);
    // Runs recorded before start times existed are judged by the pid alone.
    expect(isProcessAlive(sleeper.pid, { processStart: null, bootId: null })).toBe(true);
  });

  it('counts a pid now held by a process that started at another time as dead (a reused pid)', () => {
    const sleeper = startSleeper();
    const identity = processIdentityOf(sleeper.pid);
    const other = (identity?.processStart ?? 0) + 1;
    expect(isProcessAlive(sleeper.pid, { processStart: other, bootId: identity?.bootId })).toBe(
      false,
    );
  });

  it('counts a pid from another boot as dead', () => {
    const sleeper = startSleeper();
    const identity = processIdentityOf(sleeper.pid);
    expect(
      isProcessAlive(sleeper.pid, {
        processStart: identity?.processStart,
        bootId: '00000000-0000-0000-0000-000000000000',
      }),
    ).toBe(false);
  });

  it('counts a zombie as dead although signal 0 still reaches it', async () => {
    const zombie = await makeZombie();
    expect(await procState(zombie)).toBe('Z');
    // What liveness used to ask: the kernel still answers for the pid.
    expect(() => process.kill(zombie, 0)).not.toThrow();
    expect(isProcessAlive(zombie)).toBe(false);
  });

  it('counts a process that exited and was reaped as dead', async () => {
    const child = spawn('true', { stdio: 'ignore' });
    const pid = child.pid as number;
    await once(child, 'exit');
    expect(isProcessAlive(pid)).toBe(false);
  });
});
