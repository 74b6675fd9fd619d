import { expect, it } from 'vitest';
import { createEncryptor } from '../../src/crypto/encryptor.js';
import type { KeyProvider } from '../../src/keys/key-provider.js';
import { silentLogger } from '../../src/core/logger.js';
import { randomBytes } from 'node:crypto';

/**
 * Regression: the decryption cache keyed (key id, wrapped key, context) by joining them with NUL
 * separators, and a cache hit authenticated with the cached header. A key id may hold NUL, so
 * moving a wrapped key's leading 0x00 byte into the key id made another envelope that still
 * decrypted. Any change to the header must fail the tag check, cached or not.
 */
it('an envelope whose header bytes move between the key id and the wrapped key does not decrypt', async () => {
  const dataKey = randomBytes(32);
  // A wrapped key that starts with a 0x00 byte, as about one local wrap in five does somewhere.
  const wrapped = Buffer.concat([Buffer.from([0x00]), randomBytes(59)]);
  const provider: KeyProvider = {
    name: 'local',
    currentKey: () => ({ keyId: 'k', keyVersion: 1 }),
    generateDataKey: async () => ({ keyId: 'k', keyVersion: 1, plaintextKey: Buffer.from(dataKey), encryptedKey: Buffer.from(wrapped) }),
    // Accepts anything: the point is that the envelope's own header must still be authenticated.
    decryptDataKey: async () => Buffer.from(dataKey),
  };
  const encryptor = createEncryptor({ keyProvider: provider, logger: silentLogger });
  const envelope = await encryptor.encrypt('moved boundary', { row: '1' });
  expect(await encryptor.decryptToString(envelope, { row: '1' })).toBe('moved boundary');
  const shifted = { ...envelope, keyId: 'k\u0000', encryptedDataKey: Buffer.from(envelope.encryptedDataKey).subarray(1) };
  await expect(encryptor.decrypt(shifted, { row: '1' })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  const fresh = createEncryptor({ keyProvider: provider, logger: silentLogger });
  await expect(fresh.decrypt(shifted, { row: '1' })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
});
