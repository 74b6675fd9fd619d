import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createEncryptor } from '../../src/crypto/encryptor.js';
import { parseEnvelope } from '../../src/crypto/envelope.js';
import { createLocalKeyProvider } from '../../src/keys/local-key-provider.js';
import { createMemoryKeyringStore } from '../../src/keys/keyring.js';
import type { KeyProvider } from '../../src/keys/key-provider.js';
import { silentLogger } from '../../src/core/logger.js';

const vectors = JSON.parse(readFileSync(new URL('../fixtures/envelope-v1.json', import.meta.url), 'utf8'));

describe('frozen envelope v1 vectors', () => {
  it('a format once released keeps decrypting: every local vector decrypts to its plaintext', async () => {
    const keyring = createMemoryKeyringStore(
      vectors.local.keyring.map((r: { wrappedKey: string }) => ({ ...r, wrappedKey: Buffer.from(r.wrappedKey, 'hex') })),
    );
    const provider = await createLocalKeyProvider({ rootKey: Buffer.from(vectors.local.rootKeyHex, 'hex'), keyring, logger: silentLogger });
    const encryptor = createEncryptor({ keyProvider: provider, logger: silentLogger });
    expect(vectors.local.cases.length).toBeGreaterThanOrEqual(4);
    for (const c of vectors.local.cases) {
      const plaintext = await encryptor.decrypt(c.envelope, c.context);
      expect(plaintext.toString('hex'), c.name).toBe(c.plaintextHex);
      expect(parseEnvelope(c.envelope, 1 << 20).keyVersion).toBe(Number(/^afe1\.v(\d+)\./.exec(c.envelope)![1]));
    }
  });

  it('every local vector fails under a wrong context', async () => {
    const keyring = createMemoryKeyringStore(
      vectors.local.keyring.map((r: { wrappedKey: string }) => ({ ...r, wrappedKey: Buffer.from(r.wrappedKey, 'hex') })),
    );
    const provider = await createLocalKeyProvider({ rootKey: Buffer.from(vectors.local.rootKeyHex, 'hex'), keyring, logger: silentLogger });
    const encryptor = createEncryptor({ keyProvider: provider, logger: silentLogger });
    for (const c of vectors.local.cases) {
      await expect(encryptor.decrypt(c.envelope, { ...c.context, moved: 'yes' })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    }
  });

  it('the KMS vector decrypts once its data key is unwrapped, and names the KMS key ARN', async () => {
    const kms = vectors.awsKms;
    const seen: unknown[] = [];
    const provider: KeyProvider = {
      name: 'aws-kms',
      currentKey: () => ({ keyId: kms.keyAlias, keyVersion: 1 }),
      generateDataKey: async () => { throw new Error('not used'); },
      decryptDataKey: async (wrapped, context) => {
        seen.push({ keyId: wrapped.keyId, keyVersion: wrapped.keyVersion, edk: Buffer.from(wrapped.encryptedKey).toString('hex'), context });
        return Buffer.from(kms.dataKeyHex, 'hex');
      },
    };
    const encryptor = createEncryptor({ keyProvider: provider, logger: silentLogger });
    for (const c of kms.cases) {
      expect((await encryptor.decrypt(c.envelope, c.context)).toString('hex')).toBe(c.plaintextHex);
    }
    expect(seen).toEqual([{ keyId: kms.keyArn, keyVersion: 1, edk: kms.encryptedDataKeyHex, context: kms.cases[0].context }]);
  });
});
