import type { EncryptionContext } from '../crypto/encryption-context.js';

/** Which kind of root protects a key version. Recorded in every envelope. */
export type ProviderName = 'local' | 'aws-kms';

/** A key-encryption key version: what an envelope names so decrypt finds its key without trying others. */
export interface KeyRef {
  readonly keyId: string;
  readonly keyVersion: number;
}

/** A fresh data key: the plaintext for this process, the wrapped form for the envelope. */
export interface DataKey extends KeyRef {
  /** 32 bytes. Never logged, never stored; the encryptor derives its keys from it and zeroes it at once. */
  readonly plaintextKey: Buffer;
  /** The data key wrapped by the key version named above, bound to the encryption context. */
  readonly encryptedKey: Buffer;
}

/** What a provider needs to unwrap a data key: the envelope's key reference and wrapped key. */
export interface WrappedDataKey extends KeyRef {
  readonly encryptedKey: Uint8Array;
}

/**
 * Where key-encryption keys live. The encryptor asks a provider for data keys and never sees a
 * key-encryption key. Implementations: the local provider (root from `ENCRYPTION_KEY`) and AWS KMS.
 */
export interface KeyProvider {
  readonly name: ProviderName;
  /** The key version new data keys are wrapped under. Cheap and synchronous: called per encryption. */
  currentKey(): KeyRef;
  /**
   * A new 32-byte data key wrapped under the current key version, bound to `context`.
   * @throws a typed provider error (`ERR_KMS_*`, `ERR_KEY_PROVIDER_FAILURE`).
   */
  generateDataKey(context: EncryptionContext): Promise<DataKey>;
  /**
   * Unwraps a data key. The context must be the one it was generated with.
   * @throws ERR_UNKNOWN_KEY_VERSION, ERR_UNKNOWN_KEY, ERR_DECRYPTION_FAILED, or a provider error.
   */
  decryptDataKey(wrapped: WrappedDataKey, context: EncryptionContext): Promise<Buffer>;
}

/** One key operation, reported to the key-operation hook. Holds no key bytes. */
export interface KeyOperationEvent {
  readonly provider: ProviderName;
  readonly operation: 'generate_data_key' | 'decrypt_data_key' | 'create_key_version';
  readonly outcome: 'success' | 'failure';
  readonly keyId: string;
  readonly keyVersion: number;
  readonly durationMs: number;
  /** The error code, on failure. */
  readonly errorCode?: string;
}

/** Receives every key operation. It must not throw; if it does, the error is logged and dropped. */
export type KeyOperationHook = (event: KeyOperationEvent) => void;
