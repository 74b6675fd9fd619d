import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { DECRYPTION_FAILED_MESSAGE, SecurityError, decryptionFailed } from '../core/errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import { RootKey } from '../config/encryption-key.js';
import { canonicalizeContext, type EncryptionContext } from '../crypto/encryption-context.js';
import { createMemoryKeyringStore, type KeyringStore, type KeyVersionInfo, type KeyVersionRecord } from './keyring.js';
import type { DataKey, KeyOperationHook, KeyProvider, KeyRef, WrappedDataKey } from './key-provider.js';
import { reportKeyOperation } from './key-operation.js';

/** Options of {@link createLocalKeyProvider}. */
export interface LocalKeyProviderOptions {
  /** The root key (from `ENCRYPTION_KEY`): a `RootKey` from the config, or 32 bytes. */
  readonly rootKey: RootKey | Uint8Array;
  /** Earlier root keys, still accepted to unwrap key versions they wrapped. */
  readonly previousRootKeys?: ReadonlyArray<RootKey | Uint8Array>;
  /** The name of this keyring, recorded in every envelope. @default 'local' */
  readonly keyId?: string;
  /** Where key versions are kept. @default an in-memory store */
  readonly keyring?: KeyringStore;
  /** @default Date.now */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Reports every generate, unwrap and version creation, with no key bytes. */
  readonly onKeyOperation?: KeyOperationHook;
}

/** The local provider: versioned key-encryption keys under a root key held by this process. */
export interface LocalKeyProvider extends KeyProvider {
  readonly name: 'local';
  /**
   * Makes version N+1 the primary. If another instance created N+1 first, that one is loaded and
   * returned instead: never two keys with one version.
   * @throws ERR_KEY_PROVIDER_FAILURE when the keyring cannot be written
   */
  rotate(): Promise<KeyRef>;
  /** Every version with its dates and root fingerprint; no key material. */
  listVersions(): Promise<KeyVersionInfo[]>;
  /** Reloads the keyring from its store (another instance may have rotated). */
  refresh(): Promise<void>;
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const WRAPPED_BYTES = IV_BYTES + KEY_BYTES + TAG_BYTES;
const KEK_LABEL = 'agentflow-security/local/key-version/v1';
/** The HKDF label of the key that wraps key versions, derived from the root key. */
const ROOT_WRAP_LABEL = 'agentflow-security/root/key-version-wrap/v1';
/** Unknown versions are looked up again after this long (another instance may have created them). */
const MISSING_VERSION_TTL_MS = 10_000;
const MAX_MISSING_VERSIONS = 1000;
const DATA_KEY_LABEL = 'agentflow-security/local/data-key/v1';

const rootKeyInput = z.union([
  z.custom<RootKey>((v) => v instanceof RootKey),
  z.instanceof(Uint8Array).refine((b) => b.length === KEY_BYTES),
]);
const optionsSchema = z.object({
  rootKey: rootKeyInput,
  previousRootKeys: z.array(rootKeyInput).max(16).optional(),
  keyId: z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/).optional(),
  keyring: z.custom<KeyringStore>((v) => typeof v === 'object' && v !== null && typeof (v as KeyringStore).insert === 'function').optional(),
  clock: z.custom<Clock>((v) => typeof v === 'function').optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
  onKeyOperation: z.custom<KeyOperationHook>((v) => typeof v === 'function').optional(),
}).strict();

/**
 * Creates the local key provider and loads its keyring; an empty keyring gets version 1.
 *
 * @example
 * const config = loadSecurityConfig()
 * const keyProvider = await createLocalKeyProvider({ rootKey: config.encryptionKey! })
 * await keyProvider.rotate() // version 2 becomes primary; version 1 envelopes still decrypt
 *
 * @throws ERR_INVALID_OPTIONS for a root key that is not 32 bytes or a bad option;
 *   ERR_UNKNOWN_KEY when a stored version was wrapped by a root key it was not given
 */
export async function createLocalKeyProvider(options: LocalKeyProviderOptions): Promise<LocalKeyProvider> {
  const opts = parseOptions(optionsSchema, options, 'createLocalKeyProvider');
  const toRoot = (k: RootKey | Uint8Array): RootKey => (k instanceof RootKey ? k : RootKey.fromBytes(k));
  const root = toRoot(opts.rootKey);
  const roots = new Map<string, KeyObject>();
  for (const k of [root, ...(opts.previousRootKeys ?? []).map(toRoot)]) {
    if (roots.has(k.fingerprint)) continue;
    // The root is only HKDF input: key versions are wrapped under a key derived for that purpose.
    const wrappingKey = k.deriveKey(ROOT_WRAP_LABEL);
    roots.set(k.fingerprint, createSecretKey(wrappingKey));
    wrappingKey.fill(0);
  }
  const keyId = opts.keyId ?? 'local';
  const store = opts.keyring ?? createMemoryKeyringStore();
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? defaultLogger;
  const hook = opts.onKeyOperation;

  /** Unwrapped key-encryption keys by version. */
  const versions = new Map<number, { record: KeyVersionRecord; key: KeyObject }>();
  let primary = 0;

  function load(record: KeyVersionRecord): void {
    if (record.keyId !== keyId || versions.has(record.version)) return;
    const rootKey = roots.get(record.rootFingerprint);
    if (rootKey === undefined) {
      throw new SecurityError('ERR_UNKNOWN_KEY', 'a key version was wrapped by a root key this provider was not given', {
        details: { keyId, keyVersion: record.version, rootFingerprint: record.rootFingerprint },
      });
    }
    const key = unwrap(rootKey, record.wrappedKey, kekAad(keyId, record.version));
    if (key === undefined) {
      throw new SecurityError('ERR_DECRYPTION_FAILED', DECRYPTION_FAILED_MESSAGE, {
        details: { keyId, keyVersion: record.version, stage: 'key_version_unwrap' },
      });
    }
    versions.set(record.version, { record, key: createSecretKey(key) });
    key.fill(0);
    if (record.version > primary) primary = record.version;
  }

  async function refresh(): Promise<void> {
    for (const record of await store.list(keyId)) load(record);
  }

  async function createVersion(version: number): Promise<boolean> {
    return reportKeyOperation(hook, logger, { provider: 'local', operation: 'create_key_version', keyId, keyVersion: version }, async () => {
      const key = randomBytes(KEY_BYTES);
      const record: KeyVersionRecord = {
        keyId,
        version,
        wrappedKey: wrap(roots.get(root.fingerprint)!, key, kekAad(keyId, version)),
        rootFingerprint: root.fingerprint,
        createdAt: clock(),
      };
      key.fill(0);
      let inserted: boolean;
      try {
        inserted = await store.insert(record);
      } catch (error) {
        throw new SecurityError('ERR_KEY_PROVIDER_FAILURE', 'the keyring could not be written', { cause: error });
      }
      return inserted;
    });
  }

  async function rotate(): Promise<KeyRef> {
    await refresh();
    const next = primary + 1;
    const inserted = await createVersion(next);
    await refresh();
    if (!inserted) logger.info({ keyId, keyVersion: next }, 'another instance created this key version first');
    return { keyId, keyVersion: primary };
  }

  await refresh();
  if (primary === 0) {
    await rotate();
  } else if (versions.get(primary)!.record.rootFingerprint !== root.fingerprint) {
    // ENCRYPTION_KEY was replaced: new data must not stay under a version the old root wraps.
    const next = await rotate();
    logger.info({ keyId, keyVersion: next.keyVersion }, 'root key replaced: a new primary key version was created under it');
  }

  /** Versions an envelope named that the keyring did not hold, until when they are not looked up again. */
  const missing = new Map<number, number>();

  async function versionKey(version: number): Promise<KeyObject> {
    let entry = versions.get(version);
    if (entry === undefined && (missing.get(version) ?? 0) <= clock()) {
      // An envelope from a version another instance created after this one loaded the keyring.
      const record = await store.get(keyId, version);
      if (record !== undefined) load(record);
      entry = versions.get(version);
      if (entry === undefined) {
        // Forged envelopes naming made-up versions must not cost a keyring query each.
        if (missing.size >= MAX_MISSING_VERSIONS) missing.clear();
        missing.set(version, clock() + MISSING_VERSION_TTL_MS);
      }
    }
    if (entry === undefined) {
      throw new SecurityError('ERR_UNKNOWN_KEY_VERSION', 'the envelope names a key version the keyring does not hold', {
        details: { keyId, keyVersion: version },
      });
    }
    return entry.key;
  }

  return {
    name: 'local',
    currentKey: () => ({ keyId, keyVersion: primary }),
    async generateDataKey(context: EncryptionContext): Promise<DataKey> {
      const keyVersion = primary;
      return reportKeyOperation(hook, logger, { provider: 'local', operation: 'generate_data_key', keyId, keyVersion }, async () => {
        const kek = await versionKey(keyVersion);
        const plaintextKey = randomBytes(KEY_BYTES);
        const encryptedKey = wrap(kek, plaintextKey, dataKeyAad(keyId, keyVersion, canonicalizeContext(context)));
        return { keyId, keyVersion, plaintextKey, encryptedKey };
      });
    },
    async decryptDataKey(wrapped: WrappedDataKey, context: EncryptionContext): Promise<Buffer> {
      return reportKeyOperation(hook, logger, { provider: 'local', operation: 'decrypt_data_key', keyId: wrapped.keyId, keyVersion: wrapped.keyVersion }, async () => {
        if (wrapped.keyId !== keyId) {
          throw new SecurityError('ERR_UNKNOWN_KEY', 'the envelope names a key this provider does not hold', { details: { keyId: wrapped.keyId } });
        }
        const kek = await versionKey(wrapped.keyVersion);
        const key = unwrap(kek, wrapped.encryptedKey, dataKeyAad(keyId, wrapped.keyVersion, canonicalizeContext(context)));
        if (key === undefined) throw decryptionFailed();
        return key;
      });
    },
    rotate,
    refresh,
    async listVersions() {
      await refresh();
      return [...versions.values()]
        .map(({ record }) => ({
          keyId: record.keyId,
          version: record.version,
          rootFingerprint: record.rootFingerprint,
          createdAt: record.createdAt,
          primary: record.version === primary,
        }))
        .sort((a, b) => a.version - b.version);
    },
  };
}

function kekAad(keyId: string, version: number): Buffer {
  return Buffer.from(`${KEK_LABEL}\u0000${keyId}\u0000${version}`, 'utf8');
}

function dataKeyAad(keyId: string, version: number, context: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${DATA_KEY_LABEL}\u0000${keyId}\u0000${version}\u0000`, 'utf8'), context]);
}

function wrap(key: KeyObject, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** The unwrapped key, or undefined when anything (length, tag, AAD) is wrong. */
function unwrap(key: KeyObject, wrapped: Uint8Array, aad: Buffer): Buffer | undefined {
  if (wrapped.length !== WRAPPED_BYTES) return undefined;
  const bytes = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  let out: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(bytes.subarray(IV_BYTES + KEY_BYTES));
    out = decipher.update(bytes.subarray(IV_BYTES, IV_BYTES + KEY_BYTES));
    decipher.final();
    return out;
  } catch {
    // A wrong tag is the expected way a tampered or misdirected key fails; the caller reports it.
    // The unauthenticated output is not left on the heap.
    out?.fill(0);
    return undefined;
  }
}
