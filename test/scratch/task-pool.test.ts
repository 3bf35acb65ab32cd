import { describe, expect, it } from 'vitest';
import { TaskPool } from '../../src/scratch/task-pool.js';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('TaskPool', () => {
  it('runs no more than its limit at once, and all of them', async () => {
    const pool = new TaskPool(3);
    let running = 0;
    let peak = 0;
    let done = 0;
    for (let i = 0; i < 20; i++) {
      await pool.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await tick(2);
        running--;
        done++;
      });
    }
    await pool.drain();
    expect(peak).toBe(3);
    expect(done).toBe(20);
  });

  it('stops taking tasks after a failure and rethrows it on drain', async () => {
    const pool = new TaskPool(1);
    await pool.run(async () => {
      throw new Error('disk full');
    });
    await expect(pool.run(async () => undefined)).rejects.toThrow('disk full');
    await expect(pool.drain()).rejects.toThrow('disk full');
  });

  it('settles without throwing, waiting for what runs', async () => {
    const pool = new TaskPool(2);
    let finished = false;
    await pool.run(async () => {
      await tick(10);
      finished = true;
    });
    await pool.run(async () => {
      throw new Error('boom');
    });
    await pool.settle();
    expect(finished).toBe(true);
  });
});
