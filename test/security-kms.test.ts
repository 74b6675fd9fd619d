import { afterEach, expect, it } from 'vitest';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { createSecurity } from '../src/security.js';
import { silentLogger } from '../src/core/logger.js';

const ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A KMS stand-in behind the real client: wraps data keys under its own key, honouring the context. */
function fakeKms() {
  const client = new KMSClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
  const kms = mockClient(client);
  const master = randomBytes(32);
  const aad = (context: Record<string, string> | undefined) => Buffer.from(JSON.stringify(Object.entries(context ?? {}).sort()));
  kms.on(GenerateDataKeyCommand).callsFake((input: { EncryptionContext?: Record<string, string> }) => {
    const plaintext = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', master, iv).setAAD(aad(input.EncryptionContext));
    const blob = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { KeyId: ARN, Plaintext: new Uint8Array(plaintext), CiphertextBlob: new Uint8Array(blob) };
  });
  kms.on(DecryptCommand).callsFake((input: { CiphertextBlob: Uint8Array; EncryptionContext?: Record<string, string> }) => {
    const blob = Buffer.from(input.CiphertextBlob);
    const decipher = createDecipheriv('aes-256-gcm', master, blob.subarray(0, 12)).setAAD(aad(input.EncryptionContext));
    decipher.setAuthTag(blob.subarray(44));
    const plaintext = Buffer.concat([decipher.update(blob.subarray(12, 44)), decipher.final()]);
    return { KeyId: ARN, Plaintext: new Uint8Array(plaintext) };
  });
  return { client, kms };
}

it('under USE_AWS_KMS=true, data keys and the API-key lookup key come from KMS, and a restart reads them back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'afs-kms-'));
  dirs.push(dir);
  const { client, kms } = fakeKms();
  const env = { USE_AWS_KMS: 'true', AWS_KMS_KEY_ALIAS: 'alias/agentflow-encryption-key', NODE_ENV: 'production' };
  const database = `sqlite:${join(dir, 'security.db')}`;
  const first = await createSecurity({ database, env, kms: { client }, logger: silentLogger });
  expect(first.keyProvider.name).toBe('aws-kms');
  const value = `sk-kms-${randomBytes(16).toString('hex')}`;
  const record = await first.addApiKey('user-kms', 'openai', 'default', value, { role: 'user' });
  await first.close();
  expect(kms.commandCalls(GenerateDataKeyCommand).map((c) => c.args[0].input.KeyId)).toEqual(
    expect.arrayContaining(['alias/agentflow-encryption-key']),
  );

  const second = await createSecurity({ database, env, kms: { client }, logger: silentLogger });
  try {
    expect(await second.verifyApiKey(value)).toMatchObject({ ok: true });
    expect(await second.apiKeys.revealApiKey(record.id)).toBe(value);
    const decrypts = kms.commandCalls(DecryptCommand);
    expect(decrypts.length).toBeGreaterThanOrEqual(2);
    for (const call of decrypts) expect(call.args[0].input.KeyId).toBe('alias/agentflow-encryption-key');
  } finally {
    await second.close();
    kms.restore();
  }
});

it('refuses options that would replace its wiring', async () => {
  for (const bad of [{ apiKeys: { assertCanGrant: undefined } }, { apiKeys: { lookupKey: 'x' } }, { audit: { db: {} } }, { kms: { keyId: 'alias/other' } }]) {
    await expect(createSecurity({ database: 'sqlite::memory:', env: { ENCRYPTION_KEY: randomBytes(32).toString('hex') }, logger: silentLogger, ...bad } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTIONS',
    });
  }
});
