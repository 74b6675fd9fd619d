import type { ApiKeyRecord } from './api-key-records.js';
import type { VerifyResult } from './api-key-types.js';

/** Bounds of the verify cache. */
export interface VerifyCacheLimits {
  /**
   * How long a key read from the database is trusted by this instance. A revocation, update or
   * rotation made by another instance takes effect here after at most this long. @default 5000
   */
  readonly ttlMs: number;
  /** Keys held at once; the least recently verified leaves first. @default 10000 */
  readonly maxEntries: number;
}

/** The default verify-cache limits. */
export const DEFAULT_VERIFY_CACHE: VerifyCacheLimits = Object.freeze({ ttlMs: 5000, maxEntries: 10_000 });

/** One cached key: its record, the hash bytes for the constant-time compare, and its deadline. */
export interface VerifyCacheEntry {
  readonly record: ApiKeyRecord;
  /** The stored lookup hash, 32 bytes. */
  readonly hash: Buffer;
  /** The `{ ok: true, key: record }` answer, built once and handed to every request. */
  readonly success: VerifyResult;
  /** Fixed when the row was read, never extended by a hit: the staleness bound is `ttlMs`. */
  readonly expiresAt: number;
  /** @internal The cache's use counter when this entry last moved to the recent end. */
  recency?: number;
}

/**
 * An in-process (approximately) least-recently-used cache of verified keys, keyed by the lookup hash (its 32 bytes as a latin1 string),
 * never by the presented key: no usable secret is held as a map key. Invariants:
 * - an entry is trusted for at most `ttlMs` after its row was read, however often it is hit;
 * - `evictId` removes a key at once and bumps `generation`, so a database read that was in flight
 *   during a revocation on this instance cannot put the old row back (`set` drops it).
 *
 * @example
 * const cache = new VerifyCache(DEFAULT_VERIFY_CACHE)
 * const generation = cache.generation
 * const row = await store.findByHash(hash)
 * cache.set(hash, entry, generation)
 *
 * @throws nothing
 */
export class VerifyCache {
  private readonly entries = new Map<string, VerifyCacheEntry>();
  private readonly hashById = new Map<string, string>();
  private currentGeneration = 0;
  /** Counts moves to the recent end; an entry's distance from the end is at most `uses - recency`. */
  private uses = 0;
  private readonly halfEntries: number;

  constructor(private readonly limits: VerifyCacheLimits) {
    this.halfEntries = Math.floor(limits.maxEntries / 2);
  }

  /** Changes whenever a key is evicted; read it before a database lookup, pass it to `set`. */
  get generation(): number {
    return this.currentGeneration;
  }

  /** Keys currently held. */
  get size(): number {
    return this.entries.size;
  }

  /** The ttl to stamp on an entry read at `now`. */
  deadline(now: number): number {
    return now + this.limits.ttlMs;
  }

  /**
   * The fresh entry for a hash; undefined when absent or stale. A hit moves the entry to the
   * recent end only once it has drifted into the older half of the map: hot keys still never
   * reach the eviction end, and most hits cost one map read instead of a delete and an insert.
   */
  get(hash: string, now: number): VerifyCacheEntry | undefined {
    const entry = this.entries.get(hash);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(hash);
      this.hashById.delete(entry.record.id);
      return undefined;
    }
    if (this.uses - (entry.recency ?? 0) > this.halfEntries) {
      this.entries.delete(hash);
      this.entries.set(hash, entry);
      entry.recency = ++this.uses;
    }
    return entry;
  }

  /** Stores an entry, unless a key was evicted since `generation` was read. */
  set(hash: string, entry: VerifyCacheEntry, generation: number): void {
    if (generation !== this.currentGeneration) return;
    this.entries.delete(hash);
    this.entries.set(hash, entry);
    entry.recency = ++this.uses;
    this.hashById.set(entry.record.id, hash);
    while (this.entries.size > this.limits.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      const dropped = this.entries.get(oldest)!;
      this.entries.delete(oldest);
      if (this.hashById.get(dropped.record.id) === oldest) this.hashById.delete(dropped.record.id);
    }
  }

  /** Forgets a key at once (revoke, update, rotate on this instance). */
  evictId(id: string): void {
    this.currentGeneration++;
    const hash = this.hashById.get(id);
    if (hash === undefined) return;
    this.hashById.delete(id);
    this.entries.delete(hash);
  }

  /** Forgets everything. */
  clear(): void {
    this.currentGeneration++;
    this.entries.clear();
    this.hashById.clear();
  }
}
