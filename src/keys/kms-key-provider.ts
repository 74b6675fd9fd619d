import {
  DecryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  type DecryptCommandInput,
  type GenerateDataKeyCommandInput,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';
import { z } from 'zod';
import { SecurityError, decryptionFailed } from '../core/errors.js';
import { OPERATOR_CODES, mapKmsError, type KmsOperation } from './kms-errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import { contextRecord, type EncryptionContext } from '../crypto/encryption-context.js';
import type { DataKey, KeyOperationHook, KeyProvider, KeyRef, WrappedDataKey } from './key-provider.js';
import { reportKeyOperation } from './key-operation.js';

/** Options of {@link createKmsClient}. */
export interface KmsClientOptions {
  /** The AWS region. @default the SDK's chain (`AWS_REGION`, the shared config file) */
  readonly region?: string;
  /** Attempts per request, the first included; throttling, 5xx and network errors are retried. @default 5 */
  readonly maxAttempts?: number;
  /** Longest one attempt may take, connecting included, before it fails with a timeout. @default 5000 */
  readonly requestTimeoutMs?: number;
  /** Another endpoint than AWS's (a VPC endpoint, a local KMS for tests). @default AWS's regional endpoint */
  readonly endpoint?: string;
  /** Credentials or a credential provider. @default the SDK's default provider chain */
  readonly credentials?: KMSClientConfig['credentials'];
}

/** Options of {@link createKmsKeyProvider}. */
export interface KmsKeyProviderOptions {
  /** A KMS client to use; the provider never destroys a client it was given. @default createKmsClient(...) */
  readonly client?: KMSClient;
  /** Region of the client built when no `client` is given. @default the SDK's chain */
  readonly region?: string;
  /** The KMS key new data keys are made under: a key id, key ARN, alias name (`alias/...`) or alias ARN. */
  readonly keyId: string;
  /** The library's version number for `keyId`, recorded in every envelope. @default 1 */
  readonly keyVersion?: number;
  /** Earlier key versions, still accepted for decrypt. Versions are distinct and differ from `keyVersion`. */
  readonly previousKeys?: ReadonlyArray<{ readonly keyVersion: number; readonly keyId: string }>;
  /** Receives every generate and decrypt, with no key bytes. */
  readonly onKeyOperation?: KeyOperationHook;
  /** @default defaultLogger */
  readonly logger?: Logger;
  /** For the client built when no `client` is given. @default 5 */
  readonly maxAttempts?: number;
  /** For the client built when no `client` is given. @default 5000 */
  readonly requestTimeoutMs?: number;
}

/**
 * The AWS KMS key provider: data keys from `GenerateDataKey`, unwrapped by `Decrypt`.
 *
 * `generateDataKey` throws ERR_KMS_THROTTLED, ERR_KMS_ACCESS_DENIED, ERR_KMS_KEY_DISABLED,
 * ERR_KMS_KEY_NOT_FOUND, ERR_KMS_UNAVAILABLE (after the client's retries) or ERR_KMS_FAILURE;
 * `decryptDataKey` throws the same, plus ERR_UNKNOWN_KEY_VERSION (no KMS call) and
 * ERR_DECRYPTION_FAILED (wrong context, another key, a tampered or foreign ciphertext).
 */
export interface KmsKeyProvider extends KeyProvider {
  readonly name: 'aws-kms';
  /** Destroys the KMS client if this provider built it; a client passed in stays the caller's to destroy. */
  close(): void;
}

const DATA_KEY_BYTES = 32;
/** KMS's own bound on a `CiphertextBlob`. */
const MAX_CIPHERTEXT_BLOB_BYTES = 6144;
const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/** A TCP connect to KMS that takes longer than this is a black hole: give up and let the retry reconnect. */
const MAX_CONNECTION_TIMEOUT_MS = 3000;

const KEY_UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const KEY_ID = `(?:${KEY_UUID}|mrk-[0-9a-f]{32})`;
const ALIAS = 'alias/[a-zA-Z0-9/_-]{1,250}';
// The four forms KMS accepts as a KeyId: key id, key ARN, alias name, alias ARN.
const KMS_KEY_ID = new RegExp(`^(?:${KEY_ID}|${ALIAS}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:(?:key/${KEY_ID}|${ALIAS}))$`);

const keyIdSchema = z.string().max(2048).regex(KMS_KEY_ID);
const keyVersionSchema = z.number().int().positive().max(2 ** 31 - 1);
const regionSchema = z.string().regex(/^[a-z0-9-]{1,64}$/);
const maxAttemptsSchema = z.number().int().min(1).max(10);
const requestTimeoutSchema = z.number().int().min(50).max(300_000);

const clientOptionsSchema = z.object({
  region: regionSchema.optional(),
  maxAttempts: maxAttemptsSchema.optional(),
  requestTimeoutMs: requestTimeoutSchema.optional(),
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  credentials: z.custom<NonNullable<KMSClientConfig['credentials']>>(
    (v) => typeof v === 'function' || (typeof v === 'object' && v !== null),
  ).optional(),
}).strict();

const providerOptionsSchema = z.object({
  client: z.custom<KMSClient>((v) => typeof v === 'object' && v !== null && typeof (v as KMSClient).send === 'function').optional(),
  region: regionSchema.optional(),
  keyId: keyIdSchema,
  keyVersion: keyVersionSchema.optional(),
  previousKeys: z.array(z.object({ keyVersion: keyVersionSchema, keyId: keyIdSchema }).strict()).max(100).optional(),
  onKeyOperation: z.custom<KeyOperationHook>((v) => typeof v === 'function').optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && typeof (v as Logger).warn === 'function').optional(),
  maxAttempts: maxAttemptsSchema.optional(),
  requestTimeoutMs: requestTimeoutSchema.optional(),
}).strict().superRefine((value, ctx) => {
  const current = value.keyVersion ?? 1;
  const seen = new Set<number>([current]);
  value.previousKeys?.forEach((key, index) => {
    if (seen.has(key.keyVersion)) {
      ctx.addIssue({ code: 'custom', path: ['previousKeys', index, 'keyVersion'], message: 'duplicate key version' });
    }
    seen.add(key.keyVersion);
  });
});

/**
 * Builds a KMS client with the retry and timeout behaviour this library relies on.
 *
 * Retries: the SDK's `standard` mode, pinned. Throttling, 5xx and network errors are retried with
 * exponential backoff and full jitter (a 1 s base for throttling, 50 ms otherwise), bounded by a
 * retry quota that stops retry storms during an outage; 4xx errors such as access denied are not
 * retried. Not `adaptive`: AWS recommends it only for single-resource, latency-tolerant clients,
 * since its client-side rate limiter can delay first attempts, and one throttled key would then
 * slow every key this client serves.
 * (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html)
 *
 * Timeouts: each attempt fails after `requestTimeoutMs`, through the SDK's own Node handler
 * options, so this package needs no direct dependency on `@smithy/node-http-handler`.
 *
 * @example
 * const client = createKmsClient({ region: 'eu-west-1', maxAttempts: 5, requestTimeoutMs: 5000 })
 * const keys = createKmsKeyProvider({ client, keyId: 'alias/app-data' })
 *
 * @throws ERR_INVALID_OPTIONS for an option out of range (attempts 1–10, timeout 50–300000 ms).
 */
export function createKmsClient(options: KmsClientOptions = {}): KMSClient {
  const opts = parseOptions(clientOptionsSchema, options, 'createKmsClient');
  return buildClient(opts);
}

function buildClient(opts: z.output<typeof clientOptionsSchema>): KMSClient {
  const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return new KMSClient({
    ...(opts.region === undefined ? {} : { region: opts.region }),
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: {
      requestTimeout,
      // Without this flag the Node handler only logs a warning when requestTimeout passes.
      throwOnRequestTimeout: true,
      connectionTimeout: Math.min(requestTimeout, MAX_CONNECTION_TIMEOUT_MS),
    },
  });
}

/**
 * Creates the AWS KMS key provider. Each data key comes from `GenerateDataKey` (AES_256) under the
 * current key and is bound to the caller's encryption context; `Decrypt` unwraps it under the key
 * configured for the envelope's version.
 *
 * @example
 * const keys = createKmsKeyProvider({
 *   keyId: 'alias/app-data',
 *   keyVersion: 2,
 *   previousKeys: [{ keyVersion: 1, keyId: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' }],
 *   region: 'eu-west-1',
 * })
 * const dataKey = await keys.generateDataKey({ table: 'api_keys' })
 *
 * @throws ERR_INVALID_OPTIONS for a malformed key id, a bad version or a duplicate previous version.
 */
export function createKmsKeyProvider(options: KmsKeyProviderOptions): KmsKeyProvider {
  const opts = parseOptions(providerOptionsSchema, options, 'createKmsKeyProvider');
  const ownsClient = opts.client === undefined;
  const client = opts.client ?? buildClient({
    region: opts.region,
    maxAttempts: opts.maxAttempts,
    requestTimeoutMs: opts.requestTimeoutMs,
  });
  const logger = opts.logger ?? defaultLogger;
  const hook = opts.onKeyOperation;
  const current: KeyRef = Object.freeze({ keyId: opts.keyId, keyVersion: opts.keyVersion ?? 1 });
  const keyIdByVersion = new Map<number, string>([[current.keyVersion, current.keyId]]);
  for (const key of opts.previousKeys ?? []) keyIdByVersion.set(key.keyVersion, key.keyId);

  async function send<T>(operation: KmsOperation, keyVersion: number, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const mapped = mapKmsError(error, operation);
      if (OPERATOR_CODES.has(mapped.code)) {
        logger.warn({ operation, code: mapped.code, keyVersion }, 'KMS refused a request: check the key and its policy');
      }
      throw mapped;
    }
  }

  function generateDataKey(context: EncryptionContext): Promise<DataKey> {
    return reportKeyOperation(hook, logger, { provider: 'aws-kms', operation: 'generate_data_key', ...current }, async () => {
      const encryptionContext = contextRecord(context);
      const input: GenerateDataKeyCommandInput = {
        KeyId: current.keyId,
        KeySpec: 'AES_256',
        ...(Object.keys(encryptionContext).length === 0 ? {} : { EncryptionContext: encryptionContext }),
      };
      const response = await send('GenerateDataKey', current.keyVersion, () => client.send(new GenerateDataKeyCommand(input)));
      const { Plaintext: plaintext, CiphertextBlob: blob, KeyId: keyArn } = response;
      try {
        // Precondition: a data key is exactly 32 bytes, comes with its wrapped form, and names the
        // key that wrapped it; anything else is a malformed response, never a usable key.
        if (!(plaintext instanceof Uint8Array) || plaintext.length !== DATA_KEY_BYTES
          || !(blob instanceof Uint8Array) || blob.length === 0 || blob.length > MAX_CIPHERTEXT_BLOB_BYTES
          || typeof keyArn !== 'string' || keyArn.length === 0) {
          throw new SecurityError('ERR_KMS_FAILURE', 'KMS GenerateDataKey returned a malformed response', {
            details: { operation: 'GenerateDataKey' },
          });
        }
        return {
          keyId: keyArn,
          keyVersion: current.keyVersion,
          plaintextKey: Buffer.from(plaintext),
          encryptedKey: Buffer.from(blob),
        };
      } finally {
        // The SDK's copy of the data key must not linger on the heap once ours is made.
        if (plaintext instanceof Uint8Array) plaintext.fill(0);
      }
    });
  }

  function decryptDataKey(wrapped: WrappedDataKey, context: EncryptionContext): Promise<Buffer> {
    const start = { provider: 'aws-kms', operation: 'decrypt_data_key', keyId: wrapped.keyId, keyVersion: wrapped.keyVersion } as const;
    return reportKeyOperation(hook, logger, start, async () => {
      // Precondition: an envelope names a version this provider holds; no KMS call otherwise.
      const configuredKeyId = keyIdByVersion.get(wrapped.keyVersion);
      if (configuredKeyId === undefined) {
        throw new SecurityError('ERR_UNKNOWN_KEY_VERSION', 'the envelope names a key version this KMS provider does not hold', {
          details: Number.isSafeInteger(wrapped.keyVersion) ? { keyVersion: wrapped.keyVersion } : {},
        });
      }
      const { encryptedKey } = wrapped;
      if (typeof wrapped.keyId !== 'string' || wrapped.keyId.length === 0
        || !(encryptedKey instanceof Uint8Array) || encryptedKey.length === 0 || encryptedKey.length > MAX_CIPHERTEXT_BLOB_BYTES) {
        throw decryptionFailed();
      }
      const encryptionContext = contextRecord(context);
      const input: DecryptCommandInput = {
        CiphertextBlob: encryptedKey,
        // KMS accepts an alias here and refuses a ciphertext made under any other key
        // (IncorrectKeyException), so a forged envelope cannot make us unwrap under a key we did not pick.
        KeyId: configuredKeyId,
        ...(Object.keys(encryptionContext).length === 0 ? {} : { EncryptionContext: encryptionContext }),
      };
      const response = await send('Decrypt', wrapped.keyVersion, () => client.send(new DecryptCommand(input)));
      const plaintext = response.Plaintext;
      try {
        if (!(plaintext instanceof Uint8Array)) {
          throw new SecurityError('ERR_KMS_FAILURE', 'KMS Decrypt returned a malformed response', { details: { operation: 'Decrypt' } });
        }
        // Invariant: the key KMS used is the key recorded in the envelope at generation; an alias
        // that now points elsewhere must not silently accept ciphertexts of another key.
        if (response.KeyId !== wrapped.keyId) throw decryptionFailed();
        if (plaintext.length !== DATA_KEY_BYTES) throw decryptionFailed();
        return Buffer.from(plaintext);
      } finally {
        if (plaintext instanceof Uint8Array) plaintext.fill(0);
      }
    });
  }

  return {
    name: 'aws-kms',
    currentKey: () => current,
    generateDataKey,
    decryptDataKey,
    close: () => {
      if (ownsClient) client.destroy();
    },
  };
}
