import type { Clock } from '../core/clock.js';
import type { DataKeyMaterials } from './data-key-materials.js';

/** Bounds on how long and how much one data key may be used. */
export interface DataKeyCacheLimits {
  /** A cached data key is not used after this many milliseconds. @default 300000 */
  readonly maxAgeMs: number;
  /** A cached data key encrypts at most this many messages. @default 100000 */
  readonly maxMessages: number;
  /** A cached data key encrypts at most this many plaintext bytes. @default 1073741824 */
  readonly maxBytes: number;
  /** At most this many cached data keys per cache (one per key version and context). @default 1000 */
  readonly maxEntries: number;
}

export const DEFAULT_CACHE_LIMITS: DataKeyCacheLimits = Object.freeze({
  maxAgeMs: 5 * 60 * 1000,
  maxMessages: 100_000,
  maxBytes: 2 ** 30,
  maxEntries: 1000,
});

interface EncryptEntry {
  readonly materials: DataKeyMaterials;
  readonly expiresAt: number;
  messages: number;
  bytes: number;
}

/**
 * Data keys for encryption, one per partition (key version + canonical context). `acquire` counts
 * the message against the entry's limits in the same synchronous step that hands it out, so
 * concurrent callers can never use a key past its limits.
 */
export class EncryptionMaterialsCache {
  readonly #entries = new Map<string, EncryptEntry>();

  constructor(
    private readonly limits: DataKeyCacheLimits,
    private readonly clock: Clock,
  ) {}

  /** Materials for one more message of `bytes` bytes, or undefined when none are usable. */
  acquire(partition: string, bytes: number): DataKeyMaterials | undefined {
    const entry = this.#entries.get(partition);
    if (entry === undefined) return undefined;
    if (
      this.clock() >= entry.expiresAt ||
      entry.messages >= this.limits.maxMessages ||
      entry.bytes + bytes > this.limits.maxBytes
    ) {
      this.#entries.delete(partition);
      return undefined;
    }
    entry.messages += 1;
    entry.bytes += bytes;
    return entry.materials;
  }

  /** True when a message of this size can never fit a cached key, so it gets a key of its own. */
  exceedsLimits(bytes: number): boolean {
    return bytes > this.limits.maxBytes;
  }

  store(partition: string, materials: DataKeyMaterials): void {
    if (!this.#entries.has(partition) && this.#entries.size >= this.limits.maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest partition.
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(partition, { materials, expiresAt: this.clock() + this.limits.maxAgeMs, messages: 0, bytes: 0 });
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

interface DecryptEntry {
  readonly materials: DataKeyMaterials;
  readonly expiresAt: number;
}

/**
 * Unwrapped data keys for decryption, keyed by the wrapped key and the context, the one
 * stored first out (FIFO: with a bounded age, recency adds little). A hit skips the provider (for KMS, a `Decrypt` call) entirely.
 */
export class DecryptionMaterialsCache {
  readonly #entries = new Map<string, DecryptEntry>();

  constructor(
    private readonly limits: Pick<DataKeyCacheLimits, 'maxAgeMs' | 'maxEntries'>,
    private readonly clock: Clock,
  ) {}

  get(key: string): DataKeyMaterials | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.clock() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.materials;
  }

  store(key: string, materials: DataKeyMaterials): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.limits.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { materials, expiresAt: this.clock() + this.limits.maxAgeMs });
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
