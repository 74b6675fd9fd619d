import {
  DecryptCommand,
  DependencyTimeoutException,
  DisabledException,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSClient,
  KMSInternalException,
  KMSInvalidStateException,
  KMSServiceException,
  KeyUnavailableException,
  LimitExceededException,
  NotFoundException,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { isSecurityError, type ErrorCode } from '../../src/core/errors.js';
import { silentLogger, type Logger } from '../../src/core/logger.js';
import { createKmsKeyProvider, type KmsKeyProviderOptions } from '../../src/keys/kms-key-provider.js';
import type { KeyOperationEvent } from '../../src/keys/key-provider.js';

const ACCOUNT = '111122223333';
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const OLD_KEY_ID = '0987dcba-09fe-87dc-65ba-ab0987654321';
const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${KEY_ID}`;
const OLD_KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${OLD_KEY_ID}`;
const ALIAS = 'alias/app-data';

const kms = mockClient(KMSClient);
const client = new KMSClient({ region: 'us-east-1' });

afterAll(() => {
  kms.restore();
  client.destroy();
});

beforeEach(() => {
  kms.reset();
});

function provider(extra: Partial<KmsKeyProviderOptions> = {}) {
  return createKmsKeyProvider({ client, keyId: ALIAS, logger: silentLogger, ...extra });
}

/** A fresh SDK-shaped GenerateDataKey output; the test keeps the Plaintext array to check it is zeroed. */
function generated(plaintextBytes = 32) {
  const plaintext = new Uint8Array(plaintextBytes).map((_, i) => i + 1);
  const expected = Buffer.from(plaintext);
  return {
    plaintext,
    expected,
    response: { KeyId: KEY_ARN, Plaintext: plaintext, CiphertextBlob: new Uint8Array([9, 8, 7, 6, 5]), $metadata: {} },
  };
}

function kmsError(name: string, extra: Record<string, unknown> = {}): KMSServiceException {
  return new KMSServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: `User: arn:aws:iam::${ACCOUNT}:user/app is not authorized on ${KEY_ARN}`,
    ...extra,
  });
}

const modeled = (Ctor: new (opts: { message: string; $metadata: object }) => Error) => new Ctor({
  message: `Key ${KEY_ARN} is not usable`,
  $metadata: { httpStatusCode: 400 },
});

describe('KMS key provider: GenerateDataKey', () => {
  it('sends the configured key, AES_256 and the sorted encryption context', async () => {
    const { response } = generated();
    kms.on(GenerateDataKeyCommand).resolves(response);
    await provider().generateDataKey({ table: 'api_keys', row: '42' });

    const calls = kms.commandCalls(GenerateDataKeyCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toEqual({ KeyId: ALIAS, KeySpec: 'AES_256', EncryptionContext: { row: '42', table: 'api_keys' } });
    expect(Object.keys(input.EncryptionContext!)).toEqual(['row', 'table']);
  });

  it('omits EncryptionContext when the context is empty', async () => {
    kms.on(GenerateDataKeyCommand).resolves(generated().response);
    await provider().generateDataKey({});
    const input = kms.commandCalls(GenerateDataKeyCommand)[0]!.args[0].input;
    expect(input).toEqual({ KeyId: ALIAS, KeySpec: 'AES_256' });
    expect('EncryptionContext' in input).toBe(false);
  });

  it('returns the ARN KMS used, the configured version, and copies of the key bytes', async () => {
    const { response, expected } = generated();
    kms.on(GenerateDataKeyCommand).resolves(response);
    const dataKey = await provider({ keyVersion: 3 }).generateDataKey({});
    expect(dataKey.keyId).toBe(KEY_ARN);
    expect(dataKey.keyVersion).toBe(3);
    expect(dataKey.plaintextKey.equals(expected)).toBe(true);
    expect(dataKey.encryptedKey.equals(Buffer.from([9, 8, 7, 6, 5]))).toBe(true);
    expect(dataKey.encryptedKey.buffer).not.toBe(response.CiphertextBlob.buffer);
  });

  it('zeroes the plaintext data key the SDK returned once it is copied', async () => {
    const { response, plaintext } = generated();
    kms.on(GenerateDataKeyCommand).resolves(response);
    const dataKey = await provider().generateDataKey({});
    expect(plaintext.every((b) => b === 0)).toBe(true);
    expect(dataKey.plaintextKey.some((b) => b !== 0)).toBe(true);
  });

  it('currentKey() is the configured key id and version, before and after a call', async () => {
    kms.on(GenerateDataKeyCommand).resolves(generated().response);
    const keys = provider({ keyVersion: 2 });
    expect(keys.currentKey()).toEqual({ keyId: ALIAS, keyVersion: 2 });
    await keys.generateDataKey({});
    expect(keys.currentKey()).toEqual({ keyId: ALIAS, keyVersion: 2 });
    expect(keys.name).toBe('aws-kms');
  });

  it('refuses a data key that is not 32 bytes, and still zeroes the SDK copy', async () => {
    const { response, plaintext } = generated(16);
    kms.on(GenerateDataKeyCommand).resolves(response);
    await expect(provider().generateDataKey({})).rejects.toMatchObject({ code: 'ERR_KMS_FAILURE' });
    expect(plaintext.every((b) => b === 0)).toBe(true);
  });

  it.each([
    ['no CiphertextBlob', { CiphertextBlob: undefined }],
    ['an empty CiphertextBlob', { CiphertextBlob: new Uint8Array(0) }],
    ['no KeyId', { KeyId: undefined }],
    ['no Plaintext', { Plaintext: undefined }],
  ])('refuses a response with %s as ERR_KMS_FAILURE', async (_, patch) => {
    const { response, plaintext } = generated();
    kms.on(GenerateDataKeyCommand).resolves({ ...response, ...patch });
    await expect(provider().generateDataKey({})).rejects.toMatchObject({ code: 'ERR_KMS_FAILURE' });
    if (!('Plaintext' in patch)) expect(plaintext.every((b) => b === 0)).toBe(true);
  });
});

describe('KMS key provider: Decrypt', () => {
  const wrapped = { keyId: KEY_ARN, keyVersion: 1, encryptedKey: new Uint8Array([1, 2, 3, 4]) };

  function decrypted(keyId = KEY_ARN, bytes = 32) {
    const plaintext = new Uint8Array(bytes).fill(7);
    return { plaintext, response: { KeyId: keyId, Plaintext: plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' as const, $metadata: {} } };
  }

  it('sends the wrapped key, the key configured for its version and the encryption context', async () => {
    kms.on(DecryptCommand).resolves(decrypted().response);
    const key = await provider().decryptDataKey(wrapped, { table: 'api_keys', row: '42' });
    expect(key.equals(Buffer.alloc(32, 7))).toBe(true);

    const calls = kms.commandCalls(DecryptCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toEqual({ CiphertextBlob: wrapped.encryptedKey, KeyId: ALIAS, EncryptionContext: { row: '42', table: 'api_keys' } });
    expect(Buffer.from(input.CiphertextBlob!).equals(Buffer.from([1, 2, 3, 4]))).toBe(true);
  });

  it('omits EncryptionContext when the context is empty', async () => {
    kms.on(DecryptCommand).resolves(decrypted().response);
    await provider().decryptDataKey(wrapped, {});
    const input = kms.commandCalls(DecryptCommand)[0]!.args[0].input;
    expect('EncryptionContext' in input).toBe(false);
  });

  it('decrypts an older version under the key id configured for that version', async () => {
    kms.on(DecryptCommand).resolves(decrypted(OLD_KEY_ARN).response);
    const keys = provider({ keyVersion: 2, previousKeys: [{ keyVersion: 1, keyId: OLD_KEY_ARN }] });
    await keys.decryptDataKey({ ...wrapped, keyId: OLD_KEY_ARN, keyVersion: 1 }, {});
    expect(kms.commandCalls(DecryptCommand)[0]!.args[0].input.KeyId).toBe(OLD_KEY_ARN);
  });

  it('an envelope naming an unknown key version is refused with no KMS call', async () => {
    kms.on(DecryptCommand).resolves(decrypted().response);
    await expect(provider().decryptDataKey({ ...wrapped, keyVersion: 9 }, {})).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY_VERSION' });
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(0);
    expect(kms.send.callCount).toBe(0);
  });

  it('the key KMS used must be the key recorded in the envelope', async () => {
    const { response, plaintext } = decrypted(OLD_KEY_ARN);
    kms.on(DecryptCommand).resolves(response);
    await expect(provider().decryptDataKey(wrapped, {})).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED', message: 'decryption failed' });
    expect(plaintext.every((b) => b === 0)).toBe(true);
  });

  it('refuses a decrypted key that is not 32 bytes', async () => {
    const { response, plaintext } = decrypted(KEY_ARN, 31);
    kms.on(DecryptCommand).resolves(response);
    await expect(provider().decryptDataKey(wrapped, {})).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    expect(plaintext.every((b) => b === 0)).toBe(true);
  });

  it('refuses a response with no Plaintext as ERR_KMS_FAILURE', async () => {
    kms.on(DecryptCommand).resolves({ KeyId: KEY_ARN, $metadata: {} });
    await expect(provider().decryptDataKey(wrapped, {})).rejects.toMatchObject({ code: 'ERR_KMS_FAILURE' });
  });

  it('zeroes the plaintext data key the SDK returned once it is copied', async () => {
    const { response, plaintext } = decrypted();
    kms.on(DecryptCommand).resolves(response);
    const key = await provider().decryptDataKey(wrapped, {});
    expect(plaintext.every((b) => b === 0)).toBe(true);
    expect(key.equals(Buffer.alloc(32, 7))).toBe(true);
  });

  it('refuses an empty wrapped key with no KMS call', async () => {
    await expect(provider().decryptDataKey({ ...wrapped, encryptedKey: new Uint8Array(0) }, {})).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    expect(kms.send.callCount).toBe(0);
  });
});

describe('KMS key provider: SDK errors', () => {
  const cases: Array<[string, () => Error, ErrorCode]> = [
    ['ThrottlingException', () => kmsError('ThrottlingException', { $retryable: { throttling: true } }), 'ERR_KMS_THROTTLED'],
    ['LimitExceededException', () => modeled(LimitExceededException), 'ERR_KMS_THROTTLED'],
    ['HTTP 429', () => kmsError('TooManyRequests', { $metadata: { httpStatusCode: 429 } }), 'ERR_KMS_THROTTLED'],
    ['AccessDeniedException', () => kmsError('AccessDeniedException'), 'ERR_KMS_ACCESS_DENIED'],
    ['DisabledException', () => modeled(DisabledException), 'ERR_KMS_KEY_DISABLED'],
    ['KeyUnavailableException', () => modeled(KeyUnavailableException), 'ERR_KMS_KEY_DISABLED'],
    ['KMSInvalidStateException', () => modeled(KMSInvalidStateException), 'ERR_KMS_KEY_DISABLED'],
    ['NotFoundException', () => modeled(NotFoundException), 'ERR_KMS_KEY_NOT_FOUND'],
    ['InvalidCiphertextException', () => modeled(InvalidCiphertextException), 'ERR_DECRYPTION_FAILED'],
    ['IncorrectKeyException', () => modeled(IncorrectKeyException), 'ERR_DECRYPTION_FAILED'],
    ['KMSInternalException', () => modeled(KMSInternalException), 'ERR_KMS_UNAVAILABLE'],
    ['DependencyTimeoutException', () => modeled(DependencyTimeoutException), 'ERR_KMS_UNAVAILABLE'],
    ['an unmodelled 503', () => kmsError('ServiceUnavailable', { $fault: 'server', $metadata: { httpStatusCode: 503 } }), 'ERR_KMS_UNAVAILABLE'],
    ['ECONNREFUSED', () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }), 'ERR_KMS_UNAVAILABLE'],
    ['ETIMEDOUT', () => Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' }), 'ERR_KMS_UNAVAILABLE'],
    ['a TimeoutError', () => Object.assign(new Error('request timed out'), { name: 'TimeoutError' }), 'ERR_KMS_UNAVAILABLE'],
    ['socket hang up', () => new Error('socket hang up'), 'ERR_KMS_UNAVAILABLE'],
    ['ValidationException', () => kmsError('ValidationException'), 'ERR_KMS_FAILURE'],
    ['a plain Error', () => new Error(`something about ${KEY_ARN}`), 'ERR_KMS_FAILURE'],
  ];

  const operations = {
    GenerateDataKey: (thrown: Error) => {
      kms.on(GenerateDataKeyCommand).rejects(thrown);
      return provider().generateDataKey({});
    },
    Decrypt: (thrown: Error) => {
      kms.on(DecryptCommand).rejects(thrown);
      return provider().decryptDataKey({ keyId: KEY_ARN, keyVersion: 1, encryptedKey: new Uint8Array([1]) }, {});
    },
  };
  const table = cases.flatMap(([label, make, code]) =>
    (['GenerateDataKey', 'Decrypt'] as const).map((operation) => [operation, label, make, code] as const));

  it.each(table)('%s: %s maps to its code, keeps the cause and never echoes the KMS message', async (operation, _, make, code) => {
    const thrown = make();
    const error = await operations[operation](thrown).then(() => undefined, (e: unknown) => e);
    expect(isSecurityError(error)).toBe(true);
    expect(error).toMatchObject({ code });
    expect((error as Error).cause).toBe(thrown);
    expect((error as Error).message).not.toContain(ACCOUNT);
    expect(JSON.stringify((error as { details?: unknown }).details ?? {})).not.toContain(ACCOUNT);
    if (code === 'ERR_DECRYPTION_FAILED') expect((error as Error).message).toBe('decryption failed');
    else expect((error as Error).message).toMatch(new RegExp(`^KMS ${operation} `));
  });

  it('warns the operator about access, disabled and missing keys, not about throttling', async () => {
    const warn = vi.fn();
    const logger: Logger = { ...silentLogger, warn };
    kms.on(GenerateDataKeyCommand).rejectsOnce(kmsError('AccessDeniedException')).rejectsOnce(kmsError('ThrottlingException'));
    const keys = createKmsKeyProvider({ client, keyId: ALIAS, logger });
    await expect(keys.generateDataKey({})).rejects.toMatchObject({ code: 'ERR_KMS_ACCESS_DENIED' });
    await expect(keys.generateDataKey({})).rejects.toMatchObject({ code: 'ERR_KMS_THROTTLED' });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(ACCOUNT);
  });
});

describe('KMS key provider: key-operation hook', () => {
  it('reports success and failure of each operation, with no key bytes in any event', async () => {
    const events: KeyOperationEvent[] = [];
    const { response, expected } = generated();
    kms.on(GenerateDataKeyCommand).resolves(response);
    kms.on(DecryptCommand)
      .resolvesOnce({ KeyId: KEY_ARN, Plaintext: Uint8Array.from(expected), $metadata: {} })
      .rejectsOnce(kmsError('AccessDeniedException'));
    const keys = provider({ onKeyOperation: (e) => events.push(e), keyVersion: 4 });

    const dataKey = await keys.generateDataKey({ row: '1' });
    await keys.decryptDataKey(dataKey, { row: '1' });
    await expect(keys.decryptDataKey(dataKey, { row: '1' })).rejects.toMatchObject({ code: 'ERR_KMS_ACCESS_DENIED' });
    await expect(keys.decryptDataKey({ ...dataKey, keyVersion: 99 }, {})).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY_VERSION' });

    expect(events.map(({ durationMs, ...rest }) => rest)).toEqual([
      { provider: 'aws-kms', operation: 'generate_data_key', outcome: 'success', keyId: ALIAS, keyVersion: 4 },
      { provider: 'aws-kms', operation: 'decrypt_data_key', outcome: 'success', keyId: KEY_ARN, keyVersion: 4 },
      { provider: 'aws-kms', operation: 'decrypt_data_key', outcome: 'failure', keyId: KEY_ARN, keyVersion: 4, errorCode: 'ERR_KMS_ACCESS_DENIED' },
      { provider: 'aws-kms', operation: 'decrypt_data_key', outcome: 'failure', keyId: KEY_ARN, keyVersion: 99, errorCode: 'ERR_UNKNOWN_KEY_VERSION' },
    ]);
    for (const e of events) expect(e.durationMs).toBeGreaterThanOrEqual(0);
    const json = JSON.stringify(events);
    expect(json).not.toContain(expected.toString('hex'));
    expect(json).not.toContain(expected.toString('base64'));
    expect(json).not.toContain(dataKey.encryptedKey.toString('base64'));
  });

  it('a hook that throws does not change the result', async () => {
    const { response, expected } = generated();
    kms.on(GenerateDataKeyCommand).resolves(response);
    const dataKey = await provider({ onKeyOperation: () => { throw new Error('hook broke'); } }).generateDataKey({});
    expect(dataKey.plaintextKey.equals(expected)).toBe(true);
  });
});

describe('KMS key provider: options', () => {
  it.each([
    ['a key id', KEY_ID],
    ['a multi-region key id', 'mrk-1234abcd12ab34cd56ef1234567890ab'],
    ['a key ARN', KEY_ARN],
    ['an alias name', 'alias/app/data_v2'],
    ['an alias ARN', `arn:aws:kms:eu-west-1:${ACCOUNT}:alias/app-data`],
    ['a key ARN in another partition', `arn:aws-cn:kms:cn-north-1:${ACCOUNT}:key/${KEY_ID}`],
  ])('accepts %s as keyId', (_, keyId) => {
    expect(provider({ keyId }).currentKey()).toEqual({ keyId, keyVersion: 1 });
  });

  it.each([
    ['no keyId', { keyId: undefined }],
    ['a keyId that is no KMS key form', { keyId: 'my key' }],
    ['an empty alias', { keyId: 'alias/' }],
    ['a malformed ARN', { keyId: 'arn:aws:kms:us-east-1:1:key/x' }],
    ['keyVersion 0', { keyVersion: 0 }],
    ['a fractional keyVersion', { keyVersion: 1.5 }],
    ['a previous version equal to the current one', { keyVersion: 2, previousKeys: [{ keyVersion: 2, keyId: OLD_KEY_ARN }] }],
    ['two previous keys with one version', { previousKeys: [{ keyVersion: 3, keyId: OLD_KEY_ARN }, { keyVersion: 3, keyId: KEY_ARN }] }],
    ['maxAttempts 0', { maxAttempts: 0 }],
    ['maxAttempts 11', { maxAttempts: 11 }],
    ['a negative requestTimeoutMs', { requestTimeoutMs: -1 }],
    ['a client without send()', { client: {} as KMSClient }],
    ['an unknown option', { keyID: KEY_ID } as Partial<KmsKeyProviderOptions>],
  ])('refuses %s with ERR_INVALID_OPTIONS', (_, patch) => {
    const options = { client, keyId: ALIAS, logger: silentLogger, ...patch } as KmsKeyProviderOptions;
    expect(() => createKmsKeyProvider(options)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
  });

  it('the options error names the field, never its value', () => {
    const secretish = 'alias/' + 'x'.repeat(300);
    const error = (() => {
      try { createKmsKeyProvider({ client, keyId: secretish }); } catch (e) { return e as Error; }
      return undefined;
    })();
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    expect(error!.message).toContain('keyId');
    expect(error!.message).not.toContain('xxxx');
  });

  it('does not mutate the caller options', () => {
    const options = Object.freeze({ client, keyId: ALIAS, previousKeys: Object.freeze([Object.freeze({ keyVersion: 2, keyId: OLD_KEY_ARN })]), keyVersion: 3 });
    expect(() => createKmsKeyProvider(options)).not.toThrow();
  });

  it('close() leaves a client it was given alone', () => {
    const destroy = vi.spyOn(client, 'destroy');
    provider().close();
    expect(destroy).not.toHaveBeenCalled();
    destroy.mockRestore();
  });

  it('builds its own client when none is given, and close() destroys it', () => {
    const keys = createKmsKeyProvider({ keyId: ALIAS, region: 'eu-west-1', maxAttempts: 3, requestTimeoutMs: 1000, logger: silentLogger });
    expect(keys.currentKey()).toEqual({ keyId: ALIAS, keyVersion: 1 });
    expect(() => keys.close()).not.toThrow();
  });
});
