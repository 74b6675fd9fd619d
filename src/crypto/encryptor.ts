import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { SecurityError, decryptionFailed, isSecurityError, type ErrorCode } from '../core/errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import type { KeyProvider, ProviderName } from '../keys/key-provider.js';
import {
  DEFAULT_CACHE_LIMITS,
  DecryptionMaterialsCache,
  EncryptionMaterialsCache,
  type DataKeyCacheLimits,
} from './data-key-cache.js';
import { deriveMaterials, type DataKeyMaterials } from './data-key-materials.js';
import { canonicalizeContext, type EncryptionContext } from './encryption-context.js';
import { parseEnvelope, serializeEnvelope } from './envelope.js';
import { randomIv } from './iv-pool.js';
import { ALGORITHM_NAME, FORMAT_V1, IV_BYTES, TAG_BYTES, type Envelope } from './envelope-v1.js';

/** One encrypt or decrypt, reported to `onOperation`. Holds no key bytes and no plaintext. */
export interface EncryptionOperationEvent {
  readonly operation: 'encrypt' | 'decrypt';
  readonly outcome: 'success' | 'failure';
  readonly provider: ProviderName;
  /** The key version used, when known (not for an envelope that failed to parse). */
  readonly keyVersion?: number;
  readonly errorCode?: ErrorCode;
}

/** Options of {@link createEncryptor}. */
export interface EncryptorOptions {
  /** Where data keys come from: the local provider or AWS KMS. */
  readonly keyProvider: KeyProvider;
  /**
   * Data-key caching limits, or `false` to use a fresh data key per message.
   * @default { maxAgeMs: 300000, maxMessages: 100000, maxBytes: 1073741824, maxEntries: 1000 }
   */
  readonly cache?: Partial<DataKeyCacheLimits> | false;
  /** Largest plaintext accepted, in bytes; larger envelopes are refused before decoding. @default 67108864 (64 MiB) */
  readonly maxPlaintextBytes?: number;
  /** @default Date.now */
  readonly clock?: Clock;
  /** @default process warnings for warn and error */
  readonly logger?: Logger;
  /** Receives every encrypt and decrypt outcome (for the audit log). Must not throw. */
  readonly onOperation?: (event: EncryptionOperationEvent) => void;
}

/** Envelope encryption through a {@link KeyProvider}. */
export interface Encryptor {
  /**
   * Encrypts bytes or a UTF-8 string into an envelope of parts (columns).
   * @throws ERR_INVALID_INPUT, ERR_PLAINTEXT_TOO_LARGE, ERR_INVALID_CONTEXT, provider errors
   */
  encrypt(plaintext: string | Uint8Array, context?: EncryptionContext): Promise<Envelope>;
  /** As {@link Encryptor.encrypt}, in the compact string form `afe1.v<keyVersion>.<base64url>`. */
  encryptToString(plaintext: string | Uint8Array, context?: EncryptionContext): Promise<string>;
  /**
   * Decrypts an envelope in any form (parts, compact string, binary) with the context it was made with.
   * @throws ERR_DECRYPTION_FAILED (one message for every failed check), ERR_ENVELOPE_MALFORMED,
   *   ERR_ENVELOPE_TOO_LARGE, ERR_UNSUPPORTED_FORMAT, ERR_UNKNOWN_KEY_VERSION, ERR_INVALID_CONTEXT, provider errors
   */
  decrypt(envelope: Envelope | string | Uint8Array, context?: EncryptionContext): Promise<Buffer>;
  /** As {@link Encryptor.decrypt}, decoding the plaintext as UTF-8 (refused if it is not valid UTF-8). */
  decryptToString(envelope: Envelope | string | Uint8Array, context?: EncryptionContext): Promise<string>;
  /** Drops every cached data key (for instance after a key version is retired). */
  clearCache(): void;
}

const bytesLimit = (max: number) => z.number().int().min(1).max(max);
const optionsSchema = z.object({
  keyProvider: z.custom<KeyProvider>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as KeyProvider).generateDataKey === 'function' &&
      typeof (v as KeyProvider).decryptDataKey === 'function' &&
      typeof (v as KeyProvider).currentKey === 'function',
  ),
  cache: z
    .union([
      z.literal(false),
      z
        .object({
          maxAgeMs: bytesLimit(24 * 60 * 60 * 1000),
          // NIST SP 800-38D: at most 2^32 random 96-bit IVs under one key.
          maxMessages: bytesLimit(2 ** 32),
          maxBytes: bytesLimit(2 ** 36),
          maxEntries: bytesLimit(1_000_000),
        })
        .partial()
        .strict(),
    ])
    .optional(),
  // GCM encrypts at most 2^36 - 32 bytes per message; 4 GiB is well inside it.
  maxPlaintextBytes: bytesLimit(2 ** 32).optional(),
  clock: z.custom<Clock>((v) => typeof v === 'function').optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
  onOperation: z.custom<(e: EncryptionOperationEvent) => void>((v) => typeof v === 'function').optional(),
}).strict();

const ENVELOPE_OVERHEAD_BYTES = 64 * 1024;
const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Creates an envelope encryptor: AES-256-GCM under cached data keys from a key provider.
 *
 * @example
 * const keyProvider = await createLocalKeyProvider({ rootKey: config.encryptionKey })
 * const encryptor = createEncryptor({ keyProvider })
 * const secret = await encryptor.encryptToString('sk_live_…', { table: 'api_keys', id: '42' })
 * const plain = await encryptor.decryptToString(secret, { table: 'api_keys', id: '42' })
 *
 * @throws ERR_INVALID_OPTIONS
 */
export function createEncryptor(options: EncryptorOptions): Encryptor {
  const opts = parseOptions(optionsSchema, options, 'createEncryptor');
  const provider = opts.keyProvider;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? defaultLogger;
  const onOperation = opts.onOperation;
  const maxPlaintextBytes = opts.maxPlaintextBytes ?? 64 * 1024 * 1024;
  const maxEnvelopeBytes = maxPlaintextBytes + ENVELOPE_OVERHEAD_BYTES;
  const limits: DataKeyCacheLimits = { ...DEFAULT_CACHE_LIMITS, ...(opts.cache === false ? {} : opts.cache) };
  const caching = opts.cache !== false;
  const encryptCache = new EncryptionMaterialsCache(limits, clock);
  const decryptCache = new DecryptionMaterialsCache(limits, clock);
  const pendingEncrypt = new Map<string, Promise<DataKeyMaterials>>();
  const pendingDecrypt = new Map<string, Promise<DataKeyMaterials>>();

  function report(event: EncryptionOperationEvent): void {
    if (onOperation === undefined) return;
    try {
      onOperation(event);
    } catch {
      logger.error({ operation: event.operation }, 'encryption operation hook threw');
    }
  }

  async function generate(context: EncryptionContext | undefined, ctx: Buffer): Promise<DataKeyMaterials> {
    const dataKey = await provider.generateDataKey(context ?? {});
    const materials = deriveMaterials(provider.name, dataKey, dataKey.plaintextKey);
    if (caching) decryptCache.store(decryptKey(materials.keyId, materials.keyVersion, materials.encryptedDataKey, ctx), materials);
    return materials;
  }

  function partitionOf(ctx: Buffer): string {
    const current = provider.currentKey();
    return `${current.keyVersion}\u0000${current.keyId}\u0000${ctx.toString('latin1')}`;
  }

  async function materialsForEncrypt(context: EncryptionContext | undefined, ctx: Buffer, partition: string, bytes: number): Promise<DataKeyMaterials> {
    if (!caching || encryptCache.exceedsLimits(bytes)) return generate(context, ctx);
    for (;;) {
      const hit = encryptCache.acquire(partition, bytes);
      if (hit !== undefined) return hit;
      let pending = pendingEncrypt.get(partition);
      if (pending === undefined) {
        // Concurrent misses for one partition share a single provider call.
        pending = generate(context, ctx)
          .then((materials) => {
            encryptCache.store(partition, materials);
            return materials;
          })
          .finally(() => pendingEncrypt.delete(partition));
        pendingEncrypt.set(partition, pending);
      }
      await pending;
    }
  }

  async function materialsForDecrypt(envelope: Envelope, context: EncryptionContext | undefined, ctx: Buffer, key: string): Promise<DataKeyMaterials> {
    let pending = pendingDecrypt.get(key);
    if (pending === undefined) {
      pending = provider
        .decryptDataKey(
          { keyId: envelope.keyId, keyVersion: envelope.keyVersion, encryptedKey: envelope.encryptedDataKey },
          context ?? {},
        )
        .then((plaintextKey) => {
          const materials = deriveMaterials(provider.name, {
            keyId: envelope.keyId,
            keyVersion: envelope.keyVersion,
            encryptedKey: envelope.encryptedDataKey,
          }, plaintextKey);
          if (caching) decryptCache.store(key, materials);
          return materials;
        })
        .finally(() => pendingDecrypt.delete(key));
      pendingDecrypt.set(key, pending);
    }
    return pending;
  }

  async function encrypt(plaintext: string | Uint8Array, context?: EncryptionContext): Promise<Envelope> {
    let keyVersion: number | undefined;
    try {
      const data = toBytes(plaintext);
      if (data.length > maxPlaintextBytes) {
        throw new SecurityError('ERR_PLAINTEXT_TOO_LARGE', 'plaintext exceeds the configured size limit', {
          details: { maxPlaintextBytes },
        });
      }
      const ctx = canonicalizeContext(context);
      const partition = partitionOf(ctx);
      // The common case, a cached data key, takes no await at all.
      const materials = (caching ? encryptCache.acquire(partition, data.length) : undefined) ??
        (await materialsForEncrypt(context, ctx, partition, data.length));
      keyVersion = materials.keyVersion;
      const iv = randomIv(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', materials.encryptionKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.concat([materials.headerPrefix, iv, ctx]));
      const head = cipher.update(data);
      const tail = cipher.final();
      const envelope: Envelope = {
        formatVersion: FORMAT_V1,
        algorithm: ALGORITHM_NAME,
        provider: materials.provider,
        keyId: materials.keyId,
        keyVersion: materials.keyVersion,
        encryptedDataKey: materials.encryptedDataKey,
        commitment: materials.commitment,
        iv,
        // GCM is a stream mode: final() is empty, so no copy is made for any size.
        ciphertext: tail.length === 0 ? head : Buffer.concat([head, tail]),
        authTag: cipher.getAuthTag(),
      };
      if (onOperation !== undefined) report({ operation: 'encrypt', outcome: 'success', provider: provider.name, keyVersion });
      return envelope;
    } catch (error) {
      report({ operation: 'encrypt', outcome: 'failure', provider: provider.name, keyVersion, errorCode: codeOf(error) });
      throw error;
    }
  }

  async function decrypt(input: Envelope | string | Uint8Array, context?: EncryptionContext): Promise<Buffer> {
    let keyVersion: number | undefined;
    try {
      const envelope = parseEnvelope(input, maxEnvelopeBytes);
      keyVersion = envelope.keyVersion;
      if (envelope.provider !== provider.name) {
        throw new SecurityError('ERR_UNKNOWN_KEY', 'the envelope names a key provider this encryptor does not use', {
          details: { provider: envelope.provider },
        });
      }
      const ctx = canonicalizeContext(context);
      const cacheKey = decryptKey(envelope.keyId, envelope.keyVersion, envelope.encryptedDataKey, ctx);
      let materials = decryptCache.get(cacheKey);
      if (materials === undefined) {
        try {
          materials = await materialsForDecrypt(envelope, context, ctx, cacheKey);
        } catch (error) {
          throw isSecurityError(error) ? error : decryptionFailed(error);
        }
      }
      // Key commitment, checked before any plaintext exists: this data key is the envelope's one.
      if (!timingSafeEqual(materials.commitment, envelope.commitment)) throw decryptionFailed();
      const decipher = createDecipheriv('aes-256-gcm', materials.encryptionKey, envelope.iv, { authTagLength: TAG_BYTES });
      // The materials were found by this envelope's key id, version and wrapped key, and the
      // commitment matched, so their header prefix is byte for byte this envelope's.
      decipher.setAAD(Buffer.concat([materials.headerPrefix, envelope.iv, ctx]));
      decipher.setAuthTag(envelope.authTag);
      let plaintext: Buffer;
      try {
        const head = decipher.update(envelope.ciphertext);
        const tail = decipher.final();
        plaintext = tail.length === 0 ? head : Buffer.concat([head, tail]);
      } catch (error) {
        throw decryptionFailed(error);
      }
      if (onOperation !== undefined) report({ operation: 'decrypt', outcome: 'success', provider: provider.name, keyVersion });
      return plaintext;
    } catch (error) {
      report({ operation: 'decrypt', outcome: 'failure', provider: provider.name, keyVersion, errorCode: codeOf(error) });
      throw error;
    }
  }

  return {
    encrypt,
    async encryptToString(plaintext, context) {
      return serializeEnvelope(await encrypt(plaintext, context));
    },
    decrypt,
    async decryptToString(envelope, context) {
      const bytes = await decrypt(envelope, context);
      try {
        return FATAL_UTF8.decode(bytes);
      } catch (error) {
        throw new SecurityError('ERR_INVALID_INPUT', 'the decrypted value is not valid UTF-8; use decrypt() for bytes', { cause: error });
      } finally {
        bytes.fill(0);
      }
    },
    clearCache() {
      encryptCache.clear();
      decryptCache.clear();
    },
  };
}

/**
 * The decryption cache's key. Every variable-length field is length-prefixed, so two different
 * (key id, wrapped key, context) triples can never give the same string: a hit therefore means
 * this very key id, version and wrapped key, and so this very header prefix.
 */
function decryptKey(keyId: string, keyVersion: number, encryptedDataKey: Uint8Array, ctx: Buffer): string {
  const edk = Buffer.from(encryptedDataKey.buffer, encryptedDataKey.byteOffset, encryptedDataKey.byteLength);
  return `${keyVersion}:${keyId.length}:${keyId}:${edk.length}:${edk.toString('latin1')}:${ctx.toString('latin1')}`;
}

function toBytes(plaintext: unknown): Uint8Array {
  if (typeof plaintext === 'string') {
    if (!plaintext.isWellFormed()) throw new SecurityError('ERR_INVALID_INPUT', 'the plaintext string holds malformed Unicode');
    return Buffer.from(plaintext, 'utf8');
  }
  if (plaintext instanceof Uint8Array) return plaintext;
  throw new SecurityError('ERR_INVALID_INPUT', 'the plaintext must be a string or a Uint8Array');
}

function codeOf(error: unknown): ErrorCode {
  return isSecurityError(error) ? error.code : 'ERR_KEY_PROVIDER_FAILURE';
}
