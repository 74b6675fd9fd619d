/**
 * The keyring: versioned key-encryption keys, each stored wrapped by a root key. A version is
 * never deleted while an envelope may still name it; the highest version is the primary one.
 */

/** One key-encryption key version as stored. `wrappedKey` is useless without the root key. */
export interface KeyVersionRecord {
  readonly keyId: string;
  readonly version: number;
  /** IV (12) ‖ AES-256-GCM ciphertext of the 32-byte key (32) ‖ tag (16), under the root key. */
  readonly wrappedKey: Uint8Array;
  /** Which root key wrapped it (see `RootKey.fingerprint`). */
  readonly rootFingerprint: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/** What a keyring record says of a version, without its key material. */
export type KeyVersionInfo = Omit<KeyVersionRecord, 'wrappedKey'> & { readonly primary: boolean };

/** Where keyring records live. The database-backed store implements the same port. */
export interface KeyringStore {
  /** Every version of `keyId`, any order. */
  list(keyId: string): Promise<readonly KeyVersionRecord[]>;
  /** One version, or undefined. Called when an envelope names a version this instance has not loaded. */
  get(keyId: string, version: number): Promise<KeyVersionRecord | undefined>;
  /**
   * Adds a version. Resolves false, writing nothing, if that version already exists: two
   * instances that rotate at once cannot both create version N+1.
   */
  insert(record: KeyVersionRecord): Promise<boolean>;
}

/**
 * A keyring held in this process only. Versions made by `rotate()` are lost when the process
 * ends unless the host saves them (`exportKeyring`) — use the database store for real deployments.
 *
 * @example
 * const store = createMemoryKeyringStore()
 * const provider = await createLocalKeyProvider({ rootKey, keyring: store })
 */
export function createMemoryKeyringStore(initial: readonly KeyVersionRecord[] = []): KeyringStore {
  const records = new Map<string, KeyVersionRecord>();
  const id = (keyId: string, version: number): string => `${version}\u0000${keyId}`;
  const copy = (r: KeyVersionRecord): KeyVersionRecord => ({ ...r, wrappedKey: Buffer.from(r.wrappedKey) });
  for (const r of initial) records.set(id(r.keyId, r.version), copy(r));
  return {
    async list(keyId) {
      return [...records.values()].filter((r) => r.keyId === keyId).map(copy);
    },
    async get(keyId, version) {
      const r = records.get(id(keyId, version));
      return r === undefined ? undefined : copy(r);
    },
    async insert(record) {
      const key = id(record.keyId, record.version);
      if (records.has(key)) return false;
      records.set(key, copy(record));
      return true;
    },
  };
}
