import { afterEach, describe, expect, it, vi } from 'vitest';
import { VerifyCache, type VerifyCacheEntry } from '../../src/api-keys/verify-cache.js';
import { LastUseTracker } from '../../src/api-keys/last-use-tracker.js';
import type { ApiKeyRecord } from '../../src/api-keys/api-key-records.js';
import { silentLogger } from '../../src/core/logger.js';

function entry(id: string, expiresAt: number): VerifyCacheEntry {
  const record = { id } as ApiKeyRecord;
  return { record, hash: Buffer.alloc(32), success: { ok: true, key: record }, expiresAt };
}

describe('verify cache', () => {
  it('trusts an entry for ttlMs after its row was read, however often it is hit', () => {
    const cache = new VerifyCache({ ttlMs: 100, maxEntries: 10 });
    cache.set('h1', entry('k1', cache.deadline(1000)), cache.generation);
    for (let t = 1000; t < 1100; t += 10) expect(cache.get('h1', t)?.record.id).toBe('k1');
    expect(cache.get('h1', 1100)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('evictId removes a key at once', () => {
    const cache = new VerifyCache({ ttlMs: 100, maxEntries: 10 });
    cache.set('h1', entry('k1', 2000), cache.generation);
    cache.evictId('k1');
    expect(cache.get('h1', 1000)).toBeUndefined();
  });

  it('a read that was in flight during an eviction cannot put the old row back', () => {
    const cache = new VerifyCache({ ttlMs: 100, maxEntries: 10 });
    const generation = cache.generation; // verify starts its database read
    cache.evictId('k1'); // revoke on this instance commits meanwhile
    cache.set('h1', entry('k1', 2000), generation); // the stale row arrives
    expect(cache.get('h1', 1000)).toBeUndefined();
  });

  it('holds at most maxEntries, dropping the least recently verified first', () => {
    const cache = new VerifyCache({ ttlMs: 1000, maxEntries: 3 });
    for (const n of [1, 2, 3]) cache.set(`h${n}`, entry(`k${n}`, 5000), cache.generation);
    cache.get('h1', 0);
    cache.set('h4', entry('k4', 5000), cache.generation);
    expect(cache.size).toBe(3);
    expect(cache.get('h2', 0)).toBeUndefined();
    for (const n of [1, 3, 4]) expect(cache.get(`h${n}`, 0)?.record.id).toBe(`k${n}`);
  });
});

describe('last-use tracker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps only the latest time per key and writes all keys in one call', async () => {
    const batches: Array<ReadonlyArray<readonly [string, number]>> = [];
    const tracker = new LastUseTracker(async (b) => void batches.push(b), 60_000, silentLogger);
    tracker.touch('a', 5);
    tracker.touch('a', 3);
    tracker.touch('b', 7);
    tracker.touch('a', 9);
    expect(await tracker.flush()).toBe(2);
    expect(batches).toEqual([[['a', 9], ['b', 7]]]);
    expect(await tracker.flush()).toBe(0);
    expect(batches).toHaveLength(1);
  });

  it('keeps a batch that failed to write for the next flush, merged with newer uses', async () => {
    let fail = true;
    const batches: Array<ReadonlyArray<readonly [string, number]>> = [];
    const tracker = new LastUseTracker(async (b) => {
      if (fail) throw new Error('database down');
      batches.push(b);
    }, 60_000, silentLogger);
    tracker.touch('a', 5);
    await expect(tracker.flush()).rejects.toMatchObject({ code: 'ERR_STORAGE_FAILURE' });
    tracker.touch('a', 4);
    tracker.touch('b', 6);
    fail = false;
    await tracker.flush();
    expect(batches).toEqual([[['a', 5], ['b', 6]]]);
  });

  it('flushes on its interval with an unref’d timer, and on stop', async () => {
    const batches: Array<ReadonlyArray<readonly [string, number]>> = [];
    vi.useFakeTimers();
    const tracker = new LastUseTracker(async (b) => void batches.push(b), 1000, silentLogger);
    tracker.start();
    tracker.touch('a', 1);
    await vi.advanceTimersByTimeAsync(999);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[['a', 1]]]);
    expect(vi.getTimerCount()).toBe(1);
    tracker.touch('b', 2);
    await tracker.stop();
    expect(batches).toEqual([[['a', 1]], [['b', 2]]]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
