import { randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { createEncryptor } from '../src/crypto/encryptor.js';
import { createKmsKeyProvider } from '../src/keys/kms-key-provider.js';
import { silentLogger } from '../src/core/logger.js';
import { table } from './harness.js';

const ARN = 'arn:aws:kms:us-east-1:111122223333:key/bench';

/** Counts KMS calls for 10,000 encryptions in one cache window and for decrypting them all. */
export async function runKmsCallsBench(): Promise<string> {
  const client = new KMSClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' } });
  const kms = mockClient(client);
  const wrapped = new Map<string, Buffer>();
  kms.on(GenerateDataKeyCommand).callsFake(() => {
    const plaintext = randomBytes(32);
    const blob = randomBytes(184);
    wrapped.set(blob.toString('hex'), plaintext);
    return { KeyId: ARN, Plaintext: new Uint8Array(plaintext), CiphertextBlob: new Uint8Array(blob) };
  });
  kms.on(DecryptCommand).callsFake((input: { CiphertextBlob: Uint8Array }) => ({
    KeyId: ARN,
    Plaintext: new Uint8Array(wrapped.get(Buffer.from(input.CiphertextBlob).toString('hex'))!),
  }));
  const keyProvider = createKmsKeyProvider({ client, keyId: 'alias/agentflow-encryption-key', logger: silentLogger });
  const context = { table: 'bench' };
  const writer = createEncryptor({ keyProvider, logger: silentLogger });
  const envelopes = [];
  for (let i = 0; i < 10_000; i++) envelopes.push(await writer.encrypt(`message ${i}`, context));
  const generateCalls = kms.commandCalls(GenerateDataKeyCommand).length;
  const reader = createEncryptor({ keyProvider, logger: silentLogger });
  await Promise.all(envelopes.map((e) => reader.decrypt(e, context)));
  const decryptCalls = kms.commandCalls(DecryptCommand).length;
  kms.restore();
  if (generateCalls > 1 || decryptCalls > 1) throw new Error(`KMS call target missed: ${generateCalls} generate, ${decryptCalls} decrypt`);
  return [
    '### KMS calls for 10,000 messages in one cache window (KMS mocked)',
    '',
    table(['operation', 'messages', 'KMS calls'], [
      ['encrypt (GenerateDataKey)', '10,000', String(generateCalls)],
      ['decrypt in a fresh encryptor (Decrypt)', '10,000', String(decryptCalls)],
    ]),
  ].join('\n');
}
