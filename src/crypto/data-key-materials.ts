import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import type { DataKey, ProviderName } from '../keys/key-provider.js';
import { COMMITMENT_BYTES, SUITE_AES256_GCM_HKDF_SHA256_COMMIT, encodeHeaderPrefix } from './envelope-v1.js';

/**
 * What the encryptor keeps for one data key: never the data key itself, only what HKDF derives
 * from it: the AES key (a `KeyObject`, off the JS heap) and the key commitment.
 */
export interface DataKeyMaterials {
  readonly provider: ProviderName;
  readonly keyId: string;
  readonly keyVersion: number;
  readonly encryptedDataKey: Buffer;
  readonly encryptionKey: KeyObject;
  readonly commitment: Buffer;
  /** The header up to the commitment, computed once per data key. */
  readonly headerPrefix: Buffer;
}

const SUITE = String(SUITE_AES256_GCM_HKDF_SHA256_COMMIT);
const ENCRYPTION_INFO = Buffer.from(`agentflow-security/envelope/v1/suite-${SUITE}/encryption-key`, 'utf8');
const COMMITMENT_INFO = Buffer.from(`agentflow-security/envelope/v1/suite-${SUITE}/commitment`, 'utf8');
const NO_SALT = Buffer.alloc(0);

/**
 * Derives the encryption key and the commitment from a data key, then zeroes the data key.
 * Key commitment: the commitment is a PRF of the data key, checked before decrypting, so one
 * envelope can only ever decrypt under one data key (unlike bare GCM, which is not committing).
 */
export function deriveMaterials(provider: ProviderName, dataKey: Pick<DataKey, 'keyId' | 'keyVersion'> & { encryptedKey: Uint8Array }, plaintextKey: Buffer): DataKeyMaterials {
  try {
    const derived = Buffer.from(hkdfSync('sha256', plaintextKey, NO_SALT, ENCRYPTION_INFO, 32));
    const encryptionKey = createSecretKey(derived);
    // createSecretKey copied it; the JS-heap copy of the AES key goes now.
    derived.fill(0);
    const commitment = Buffer.from(hkdfSync('sha256', plaintextKey, NO_SALT, COMMITMENT_INFO, COMMITMENT_BYTES));
    const encryptedDataKey = Buffer.from(dataKey.encryptedKey);
    const headerPrefix = encodeHeaderPrefix({
      provider,
      keyId: dataKey.keyId,
      keyVersion: dataKey.keyVersion,
      encryptedDataKey,
      commitment,
    });
    return { provider, keyId: dataKey.keyId, keyVersion: dataKey.keyVersion, encryptedDataKey, encryptionKey, commitment, headerPrefix };
  } finally {
    plaintextKey.fill(0);
  }
}
