/**
 * Prints a fresh set of envelope test vectors as JSON. The committed file
 * test/fixtures/envelope-v1.json is frozen: it was made once with this script and must never be
 * regenerated, since its whole point is to prove that released envelopes keep decrypting.
 * Use this script only to make vectors for a new format version, into a new file.
 */
import { randomBytes } from 'node:crypto';
import { createEncryptor } from '../src/crypto/encryptor.js';
import { serializeEnvelope } from '../src/crypto/envelope.js';
import { createLocalKeyProvider } from '../src/keys/local-key-provider.js';
import { createMemoryKeyringStore } from '../src/keys/keyring.js';
import type { KeyProvider } from '../src/keys/key-provider.js';
import { silentLogger } from '../src/core/logger.js';

const rootKey = randomBytes(32);
const keyring = createMemoryKeyringStore();
const local = await createLocalKeyProvider({ rootKey, keyring, logger: silentLogger, clock: () => Date.UTC(2026, 11, 3) });
const localEncryptor = createEncryptor({ keyProvider: local, cache: false, logger: silentLogger });

const cases: Array<{ name: string; plaintextHex: string; context: Record<string, string>; envelope: string }> = [];
async function add(name: string, plaintext: Buffer, context: Record<string, string>) {
  cases.push({ name, plaintextHex: plaintext.toString('hex'), context, envelope: await localEncryptor.encryptToString(plaintext, context) });
}
await add('utf8 with context', Buffer.from('hello, envelope v1', 'utf8'), { table: 'api_keys', column: 'value', row: '1' });
await add('empty plaintext, no context', Buffer.alloc(0), {});
await add('all byte values, unicode context', Buffer.from(Array.from({ length: 256 }, (_, i) => i)), { 'naïve': '值', z: '' });
await local.rotate();
await add('key version 2', Buffer.from('after one rotation', 'utf8'), { tenant: 't-1' });

const kmsDataKey = randomBytes(32);
const kmsWrapped = randomBytes(184);
const arn = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const fakeKms: KeyProvider = {
  name: 'aws-kms',
  currentKey: () => ({ keyId: 'alias/agentflow-encryption-key', keyVersion: 1 }),
  generateDataKey: async () => ({ keyId: arn, keyVersion: 1, plaintextKey: Buffer.from(kmsDataKey), encryptedKey: Buffer.from(kmsWrapped) }),
  decryptDataKey: async () => Buffer.from(kmsDataKey),
};
const kmsEncryptor = createEncryptor({ keyProvider: fakeKms, cache: false, logger: silentLogger });
const kmsPlaintext = Buffer.from('sealed under a KMS data key', 'utf8');
const kmsContext = { purpose: 'test-vector' };

console.log(
  JSON.stringify(
    {
      description: 'Frozen envelope format v1 vectors. Never regenerate: released envelopes must keep decrypting.',
      local: {
        rootKeyHex: rootKey.toString('hex'),
        keyring: (await keyring.list('local')).map((r) => ({ ...r, wrappedKey: Buffer.from(r.wrappedKey).toString('hex') })),
        cases,
      },
      awsKms: {
        keyAlias: 'alias/agentflow-encryption-key',
        keyArn: arn,
        dataKeyHex: kmsDataKey.toString('hex'),
        encryptedDataKeyHex: kmsWrapped.toString('hex'),
        cases: [
          {
            name: 'kms data key',
            plaintextHex: kmsPlaintext.toString('hex'),
            context: kmsContext,
            envelope: serializeEnvelope(await kmsEncryptor.encrypt(kmsPlaintext, kmsContext)),
          },
        ],
      },
    },
    null,
    2,
  ),
);
