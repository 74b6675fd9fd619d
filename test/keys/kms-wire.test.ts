import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { createKmsClient, createKmsKeyProvider, type KmsClientOptions, type KmsKeyProvider } from '../../src/keys/kms-key-provider.js';

/**
 * A tiny KMS speaking the real wire protocol (AWS JSON 1.1, `X-Amz-Target: TrentService.*`), so
 * these tests run the SDK's serialisation, signing, error parsing and retry strategy for real.
 * Data keys are wrapped with AES-256-GCM under a per-key secret, with the encryption context as AAD.
 */
const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const KEY_A = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_B = '0987dcba-09fe-87dc-65ba-ab0987654321';
const arnOf = (id: string): string => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface SeenRequest {
  readonly target: string;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown>;
}

class FakeKms {
  readonly requests: SeenRequest[] = [];
  readonly aliases = new Map<string, string>([['alias/app', KEY_A]]);
  /** Canned replies served before normal handling, one per request. */
  readonly queued: Reply[] = [];
  /** When set, every request gets this reply. */
  always: Reply | undefined;
  /** When true, requests are read and never answered. */
  hang = false;
  private readonly secrets = new Map<string, Buffer>([[KEY_A, randomBytes(32)], [KEY_B, randomBytes(32)]]);
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    const target = String(req.headers['x-amz-target'] ?? '');
    this.requests.push({ target, contentType: req.headers['content-type'], authorization: req.headers.authorization, body });
    if (this.hang) return;
    const reply = this.always ?? this.queued.shift() ?? this.operate(req.method, target, body);
    res.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(reply.body));
  }

  private operate(method: string | undefined, target: string, body: Record<string, unknown>): Reply {
    if (method !== 'POST') return error(400, 'UnknownOperationException');
    if (target === 'TrentService.GenerateDataKey') return this.generateDataKey(body);
    if (target === 'TrentService.Decrypt') return this.decrypt(body);
    return error(400, 'UnknownOperationException');
  }

  private resolve(keyId: unknown): string | undefined {
    if (typeof keyId !== 'string') return undefined;
    const alias = /^(?:arn:aws:kms:[^:]+:\d{12}:)?(alias\/.+)$/.exec(keyId);
    const id = alias ? this.aliases.get(alias[1]!) : keyId.replace(/^arn:aws:kms:[^:]+:\d{12}:key\//, '');
    return id !== undefined && this.secrets.has(id) ? id : undefined;
  }

  private generateDataKey(body: Record<string, unknown>): Reply {
    const id = this.resolve(body.KeyId);
    if (id === undefined) return error(400, 'NotFoundException', `Key '${String(body.KeyId)}' does not exist`);
    if (body.KeySpec !== 'AES_256') return error(400, 'ValidationException');
    const plaintext = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.secrets.get(id)!, iv);
    cipher.setAAD(aad(body.EncryptionContext));
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const idBytes = Buffer.from(id, 'utf8');
    const blob = Buffer.concat([Buffer.from([idBytes.length]), idBytes, iv, cipher.getAuthTag(), sealed]);
    return ok({ KeyId: arnOf(id), Plaintext: plaintext.toString('base64'), CiphertextBlob: blob.toString('base64') });
  }

  private decrypt(body: Record<string, unknown>): Reply {
    const blob = Buffer.from(String(body.CiphertextBlob ?? ''), 'base64');
    const idLength = blob[0] ?? 0;
    const id = blob.subarray(1, 1 + idLength).toString('utf8');
    const secret = this.secrets.get(id);
    if (secret === undefined || blob.length !== 1 + idLength + 12 + 16 + 32) return error(400, 'InvalidCiphertextException');
    if (body.KeyId !== undefined) {
      const asked = this.resolve(body.KeyId);
      if (asked === undefined) return error(400, 'NotFoundException');
      if (asked !== id) return error(400, 'IncorrectKeyException');
    }
    const iv = blob.subarray(1 + idLength, 13 + idLength);
    const tag = blob.subarray(13 + idLength, 29 + idLength);
    try {
      const decipher = createDecipheriv('aes-256-gcm', secret, iv);
      decipher.setAAD(aad(body.EncryptionContext));
      decipher.setAuthTag(tag);
      const plaintext = Buffer.concat([decipher.update(blob.subarray(29 + idLength)), decipher.final()]);
      return ok({ KeyId: arnOf(id), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    } catch {
      // A tag mismatch is exactly what KMS reports for a wrong encryption context.
      return error(400, 'InvalidCiphertextException');
    }
  }
}

function aad(context: unknown): Buffer {
  const entries = Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

function ok(body: Record<string, unknown>): Reply {
  return { status: 200, body };
}

function error(status: number, type: string, message = 'request refused'): Reply {
  return { status, body: { __type: type, message } };
}

const THROTTLED = error(400, 'ThrottlingException', 'Rate exceeded');
const INTERNAL = error(500, 'KMSInternalException', 'internal error');
const ACCESS_DENIED = error(400, 'AccessDeniedException', `User: arn:aws:iam::${ACCOUNT}:user/app is not authorized`);

describe('KMS key provider over the KMS wire protocol', () => {
  let kms: FakeKms;
  let endpoint: string;
  const providers: KmsKeyProvider[] = [];
  const clients: Array<{ destroy(): void }> = [];

  function provider(keyId: string, clientOptions: KmsClientOptions = {}, extra: { keyVersion?: number; previousKeys?: Array<{ keyVersion: number; keyId: string }> } = {}): KmsKeyProvider {
    const client = createKmsClient({
      endpoint,
      region: REGION,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
      ...clientOptions,
    });
    clients.push(client);
    const p = createKmsKeyProvider({ client, keyId, logger: silentLogger, ...extra });
    providers.push(p);
    return p;
  }

  beforeEach(async () => {
    kms = new FakeKms();
    endpoint = await kms.start();
  });

  afterEach(async () => {
    for (const p of providers.splice(0)) p.close();
    for (const c of clients.splice(0)) c.destroy();
    await kms.stop();
  });

  it('generates a data key and decrypts it back through signed JSON 1.1 requests', async () => {
    const keys = provider('alias/app');
    const dataKey = await keys.generateDataKey({ table: 'api_keys', row: '42' });
    expect(dataKey.keyId).toBe(arnOf(KEY_A));
    expect(dataKey.plaintextKey).toHaveLength(32);

    const plaintext = await keys.decryptDataKey(dataKey, { row: '42', table: 'api_keys' });
    expect(plaintext.equals(dataKey.plaintextKey)).toBe(true);

    expect(kms.requests.map((r) => r.target)).toEqual(['TrentService.GenerateDataKey', 'TrentService.Decrypt']);
    for (const r of kms.requests) {
      expect(r.contentType).toBe('application/x-amz-json-1.1');
      expect(r.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);
    }
    expect(kms.requests[0]!.body).toEqual({ KeyId: 'alias/app', KeySpec: 'AES_256', EncryptionContext: { row: '42', table: 'api_keys' } });
    expect(kms.requests[1]!.body).toEqual({
      CiphertextBlob: dataKey.encryptedKey.toString('base64'),
      KeyId: 'alias/app',
      EncryptionContext: { row: '42', table: 'api_keys' },
    });
  });

  it('a data key does not decrypt under another encryption context, and that refusal is not retried', async () => {
    const keys = provider('alias/app');
    const dataKey = await keys.generateDataKey({ row: '42' });
    await expect(keys.decryptDataKey(dataKey, { row: '43' })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED', message: 'decryption failed' });
    expect(kms.requests).toHaveLength(2);
  });

  it('an older version still decrypts after the current key moved to another KMS key', async () => {
    const old = await provider(arnOf(KEY_A)).generateDataKey({});
    const keys = provider(arnOf(KEY_B), {}, { keyVersion: 2, previousKeys: [{ keyVersion: 1, keyId: arnOf(KEY_A) }] });
    const plaintext = await keys.decryptDataKey(old, {});
    expect(plaintext.equals(old.plaintextKey)).toBe(true);
    expect(kms.requests[1]!.body.KeyId).toBe(arnOf(KEY_A));
    expect((await keys.generateDataKey({})).keyId).toBe(arnOf(KEY_B));
  });

  it('an alias repointed to another key does not unwrap envelopes of the old key', async () => {
    const keys = provider('alias/app');
    const dataKey = await keys.generateDataKey({});
    kms.aliases.set('alias/app', KEY_B);
    await expect(keys.decryptDataKey(dataKey, {})).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  });

  it('retries 5xx responses with backoff: two failures then success make 3 requests', async () => {
    kms.queued.push(INTERNAL, INTERNAL);
    const dataKey = await provider('alias/app').generateDataKey({});
    expect(dataKey.plaintextKey).toHaveLength(32);
    expect(kms.requests).toHaveLength(3);
  });

  it('retries up to the configured 5 attempts, past the SDK default of 3', async () => {
    kms.queued.push(INTERNAL, INTERNAL, INTERNAL, INTERNAL);
    await provider('alias/app').generateDataKey({});
    expect(kms.requests).toHaveLength(5);
  });

  it('retries throttling: two ThrottlingExceptions then success make 3 requests', async () => {
    kms.queued.push(THROTTLED, THROTTLED);
    const dataKey = await provider('alias/app').generateDataKey({});
    expect(dataKey.keyId).toBe(arnOf(KEY_A));
    expect(kms.requests).toHaveLength(3);
  });

  it('a persistent 5xx ends in ERR_KMS_UNAVAILABLE after exactly maxAttempts requests', async () => {
    kms.always = INTERNAL;
    await expect(provider('alias/app', { maxAttempts: 2 }).generateDataKey({})).rejects.toMatchObject({ code: 'ERR_KMS_UNAVAILABLE' });
    expect(kms.requests).toHaveLength(2);
  });

  it('access denied is not retried: ERR_KMS_ACCESS_DENIED after exactly 1 request, the KMS message not echoed', async () => {
    kms.always = ACCESS_DENIED;
    const error = await provider('alias/app').generateDataKey({}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_KMS_ACCESS_DENIED', cause: { name: 'AccessDeniedException' } });
    expect((error as Error).message).not.toContain(ACCOUNT);
    expect(kms.requests).toHaveLength(1);
  });

  it('an unknown key is ERR_KMS_KEY_NOT_FOUND', async () => {
    await expect(provider('alias/missing').generateDataKey({})).rejects.toMatchObject({ code: 'ERR_KMS_KEY_NOT_FOUND' });
    expect(kms.requests).toHaveLength(1);
  });

  it('a refused connection is ERR_KMS_UNAVAILABLE', async () => {
    await kms.stop();
    await expect(provider('alias/app', { maxAttempts: 2 }).generateDataKey({})).rejects.toMatchObject({ code: 'ERR_KMS_UNAVAILABLE' });
  });

  it('a server that never answers is ERR_KMS_UNAVAILABLE once requestTimeoutMs passes', async () => {
    kms.hang = true;
    const began = performance.now();
    await expect(provider('alias/app', { maxAttempts: 1, requestTimeoutMs: 300 }).generateDataKey({}))
      .rejects.toMatchObject({ code: 'ERR_KMS_UNAVAILABLE', cause: { name: 'TimeoutError' } });
    expect(performance.now() - began).toBeLessThan(3000);
    expect(kms.requests).toHaveLength(1);
  });
});

describe('createKmsClient', () => {
  it('pins the standard retry mode and the attempt count', async () => {
    const client = createKmsClient({ region: REGION, maxAttempts: 4 });
    try {
      expect(await client.config.maxAttempts()).toBe(4);
      const strategy = await client.config.retryStrategy();
      expect((strategy as { mode?: string }).mode).toBe('standard');
    } finally {
      client.destroy();
    }
  });

  it('defaults to 5 attempts', async () => {
    const client = createKmsClient({ region: REGION });
    try {
      expect(await client.config.maxAttempts()).toBe(5);
    } finally {
      client.destroy();
    }
  });

  it('refuses out-of-range options with ERR_INVALID_OPTIONS', () => {
    expect(() => createKmsClient({ maxAttempts: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
    expect(() => createKmsClient({ requestTimeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
    expect(() => createKmsClient({ endpoint: 'ftp://example.com' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
  });
});
