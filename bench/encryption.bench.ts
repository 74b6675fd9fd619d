import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  NodeCachingMaterialsManager,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  buildClient,
  getLocalCryptographicMaterialsCache,
} from '@aws-crypto/client-node';
import { createEncryptor } from '../src/crypto/encryptor.js';
import { createLocalKeyProvider } from '../src/keys/local-key-provider.js';
import { silentLogger } from '../src/core/logger.js';
import { formatOps, measure, ratio, table } from './harness.js';

const SIZES: ReadonlyArray<readonly [string, number]> = [
  ['64 B', 64],
  ['1 KiB', 1024],
  ['16 KiB', 16 * 1024],
  ['1 MiB', 1024 * 1024],
];

/** Raw AES-256-GCM round trip, written without extra copies: the limit for any envelope. */
function rawRoundTrip(key: Buffer, plaintext: Buffer): () => void {
  return () => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const ciphertext = cipher.update(plaintext);
    cipher.final();
    const tag = cipher.getAuthTag();
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    const out = decipher.update(ciphertext);
    decipher.final();
    if (out.length !== plaintext.length) throw new Error('raw round trip broke');
  };
}

export async function runEncryptionBench(): Promise<string> {
  const keyProvider = await createLocalKeyProvider({ rootKey: randomBytes(32), logger: silentLogger });
  const encryptor = createEncryptor({ keyProvider, logger: silentLogger });
  const context = { table: 'bench', column: 'payload' };

  // The AWS Encryption SDK at its fastest: committing suite without signing, raw AES keyring,
  // caching materials manager.
  const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new RawAesKeyringNode({
    keyNamespace: 'bench',
    keyName: 'aes-256',
    unencryptedMasterKey: randomBytes(32),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const cmm = new NodeCachingMaterialsManager({
    backingMaterials: keyring,
    cache: getLocalCryptographicMaterialsCache(1000),
    maxAge: 5 * 60 * 1000,
    maxMessagesEncrypted: 100_000,
    maxBytesEncrypted: 2 ** 30,
  });
  const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;

  const rows: string[][] = [];
  for (const [label, size] of SIZES) {
    const plaintext = randomBytes(size);
    const rawKey = randomBytes(32);
    const tasks: Array<readonly [string, () => unknown]> = [
      ['raw', rawRoundTrip(rawKey, plaintext)],
      [
        'envelope',
        async () => {
          const out = await encryptor.decrypt(await encryptor.encrypt(plaintext));
          if (out.length !== size) throw new Error('envelope round trip broke');
        },
      ],
      [
        'envelope+context',
        async () => {
          const out = await encryptor.decrypt(await encryptor.encrypt(plaintext, context), context);
          if (out.length !== size) throw new Error('envelope round trip broke');
        },
      ],
      [
        'esdk',
        async () => {
          const { result } = await esdk.encrypt(cmm, plaintext, { suiteId, plaintextLength: size });
          const { plaintext: out } = await esdk.decrypt(cmm, result);
          if (out.length !== size) throw new Error('esdk round trip broke');
        },
      ],
    ];
    const [raw, envelope, withContext, sdk] = await measure(tasks);
    rows.push([
      label,
      formatOps(raw!.opsPerSecond),
      formatOps(envelope!.opsPerSecond),
      formatOps(withContext!.opsPerSecond),
      formatOps(sdk!.opsPerSecond),
      ratio(envelope!.opsPerSecond, raw!.opsPerSecond),
      ratio(withContext!.opsPerSecond, raw!.opsPerSecond),
      ratio(envelope!.opsPerSecond, sdk!.opsPerSecond),
      envelope!.p99Us.toFixed(1),
    ]);
  }
  return [
    '### Envelope round trip (encrypt + decrypt), local provider, cached data keys',
    '',
    table(
      ['size', 'raw AES-GCM ops/s', 'envelope ops/s', 'envelope + 2-entry context ops/s', 'AWS ESDK ops/s', 'envelope / raw', 'with context / raw', 'envelope / ESDK', 'envelope p99 µs'],
      rows,
    ),
  ].join('\n');
}
