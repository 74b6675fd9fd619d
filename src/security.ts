import type { Kysely } from 'kysely';
import { z } from 'zod';
import { createApiKeyService, type ApiKeyService, type ApiKeyServiceOptions } from './api-keys/api-key-service.js';
import { createAuditLog, type AuditLog, type AuditLogOptions, type AuditWriteFailure } from './audit/audit-log.js';
import { loadSecurityConfig, type SecurityConfig } from './config/env.js';
import type { RootKey } from './config/encryption-key.js';
import { systemClock, type Clock } from './core/clock.js';
import { SecurityError } from './core/errors.js';
import { defaultLogger, type Logger } from './core/logger.js';
import { parseOptions } from './core/options.js';
import { createEncryptor, type Encryptor } from './crypto/encryptor.js';
import type { KeyProvider } from './keys/key-provider.js';
import { createKmsKeyProvider, type KmsKeyProviderOptions } from './keys/kms-key-provider.js';
import { createLocalKeyProvider } from './keys/local-key-provider.js';
import { loadPurposeKey } from './keys/purpose-keys.js';
import { createPermissionEvaluator, type PermissionEvaluator } from './permissions/evaluator.js';
import type { PolicyDefinition } from './permissions/policy.js';
import { auditCryptoOperation, auditKeyOperation, auditPermissionDecision, auditPermissionSummary, auditRootKeyStatus } from './security-audit.js';
import { openDatabase } from './storage/connect.js';
import { migrateSecurityDatabase } from './storage/migrations.js';
import { createKyselyKeyringStore } from './storage/kysely-keyring-store.js';
import type { SecurityDatabase } from './storage/schema.js';
import { resolveTableNames, type TableNameOptions, type TableNames } from './storage/table-names.js';

/** Options of {@link createSecurity}. */
export interface SecurityOptions {
  /** A connection URL (`sqlite:./security.db`, `postgres://…`, `mysql://…`) or the host's own Kysely instance. */
  readonly database: string | Kysely<any>;
  /** The environment to read. @default process.env */
  readonly env?: Record<string, string | undefined>;
  /** An already loaded configuration; when given, `env` is not read. */
  readonly config?: SecurityConfig;
  /** Start even with an insecure `ENCRYPTION_KEY` in production (reported as a critical audit event). @default false */
  readonly allowInsecureEncryptionKey?: boolean;
  /** Rename the library's tables. */
  readonly tables?: TableNameOptions;
  /** Replaces the provider chosen from the config (for instance a KMS provider with its own client). */
  readonly keyProvider?: KeyProvider;
  /** Earlier root keys, so key versions they wrapped stay readable after `ENCRYPTION_KEY` is replaced. */
  readonly previousRootKeys?: ReadonlyArray<RootKey | Uint8Array>;
  /** The role matrix; the spec's default when absent. */
  readonly policy?: PolicyDefinition;
  /**
   * Under `USE_AWS_KMS=true`: the client to use, the library's version number of the configured key,
   * and earlier keys still accepted for decrypt. Changing `AWS_KMS_KEY_ID` (or repointing the alias
   * at another key) needs a new `keyVersion`, with the old key in `previousKeys`: envelopes name the
   * version that wrapped them, and KMS refuses a ciphertext under another key.
   */
  readonly kms?: Pick<KmsKeyProviderOptions, 'client' | 'keyVersion' | 'previousKeys'>;
  /** Audit writer settings. */
  readonly audit?: Pick<AuditLogOptions, 'batchSize' | 'flushIntervalMs' | 'maxBufferedEvents' | 'maxRetainedEvents' | 'retry'>;
  /** API-key settings. */
  readonly apiKeys?: Pick<ApiKeyServiceOptions, 'keyPrefix' | 'verifyCache' | 'lastUseFlushIntervalMs' | 'rotationGracePeriodMs'>;
  /** How often the permission grants counted since the last summary are written as one audit event per resource and action. @default 60000 */
  readonly permissionSummaryIntervalMs?: number;
  /** Called when the audit log cannot be written (route it to an alert). */
  readonly onAuditWriteFailure?: (failure: AuditWriteFailure) => void;
  /** @default process warnings for warn and error */
  readonly logger?: Logger;
  /** @default Date.now */
  readonly clock?: Clock;
}

/** Everything `createSecurity` wires together. */
export interface Security {
  readonly config: SecurityConfig;
  readonly db: Kysely<SecurityDatabase>;
  readonly tables: TableNames;
  readonly keyProvider: KeyProvider;
  readonly encryptor: Encryptor;
  readonly audit: AuditLog;
  readonly permissions: PermissionEvaluator;
  readonly apiKeys: ApiKeyService;
  /** The spec's `addApiKey(userId, service, keyName, keyValue, { label, role, permissions })`. */
  readonly addApiKey: ApiKeyService['addApiKey'];
  readonly verifyApiKey: ApiKeyService['verifyApiKey'];
  /** Writes what is pending (last-use times, the grant summary, the audit buffer), then closes what it opened. */
  close(): Promise<void>;
}

const optionsSchema = z.strictObject({
  database: z.union([z.string().min(1), z.custom<Kysely<any>>((v) => typeof v === 'object' && v !== null && typeof (v as Kysely<any>).selectFrom === 'function')]),
  env: z.record(z.string(), z.string().optional()).optional(),
  config: z.custom<SecurityConfig>((v) => typeof v === 'object' && v !== null && 'encryptionKeyStatus' in (v as object)).optional(),
  allowInsecureEncryptionKey: z.boolean().optional(),
  tables: z.record(z.string(), z.string()).optional(),
  keyProvider: z.custom<KeyProvider>((v) => typeof v === 'object' && v !== null && typeof (v as KeyProvider).generateDataKey === 'function').optional(),
  previousRootKeys: z.array(z.custom<RootKey | Uint8Array>((v) => typeof v === 'object' && v !== null)).optional(),
  policy: z.custom<PolicyDefinition>((v) => typeof v === 'object' && v !== null).optional(),
  // Only the tuning knobs: nothing here may replace the wiring (database, hooks, escalation check).
  audit: z
    .strictObject({ batchSize: z.unknown(), flushIntervalMs: z.unknown(), maxBufferedEvents: z.unknown(), maxRetainedEvents: z.unknown(), retry: z.unknown() })
    .partial()
    .optional(),
  apiKeys: z.strictObject({ keyPrefix: z.unknown(), verifyCache: z.unknown(), lastUseFlushIntervalMs: z.unknown(), rotationGracePeriodMs: z.unknown() }).partial().optional(),
  kms: z.strictObject({ client: z.unknown(), keyVersion: z.unknown(), previousKeys: z.unknown() }).partial().optional(),
  permissionSummaryIntervalMs: z.number().int().min(1000).max(24 * 60 * 60 * 1000).optional(),
  onAuditWriteFailure: z.custom<(f: AuditWriteFailure) => void>((v) => typeof v === 'function').optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
  clock: z.custom<Clock>((v) => typeof v === 'function').optional(),
});

/**
 * Wires the library for one service: configuration, database and migrations, the key provider
 * (AWS KMS when `USE_AWS_KMS=true`, else the local root key with its keyring in the database),
 * the encryptor, the audit log, the permission evaluator and the API-key service. The spec's
 * `securityInitializer`.
 *
 * @example
 * const security = await createSecurity({ database: 'sqlite:./data/security.db' })
 * const record = await security.addApiKey(userId, 'openai', 'default', process.env.OPENAI_KEY!, { label: 'My API Key', role: 'user' })
 * await security.close()
 *
 * @throws ERR_INVALID_OPTIONS, ERR_INVALID_CONFIG, ERR_INSECURE_KEY, ERR_STORAGE_FAILURE (migrations failed),
 *   and the key provider's errors
 */
export async function createSecurity(options: SecurityOptions): Promise<Security> {
  const opts = parseOptions(optionsSchema, options, 'createSecurity') as SecurityOptions;
  const logger = opts.logger ?? defaultLogger;
  const clock = opts.clock ?? systemClock;
  const config =
    opts.config ??
    loadSecurityConfig(opts.env ?? process.env, { logger, ...(opts.allowInsecureEncryptionKey === undefined ? {} : { allowInsecureEncryptionKey: opts.allowInsecureEncryptionKey }) });
  const tables = resolveTableNames(opts.tables);
  const opened = typeof opts.database === 'string' ? await openDatabase(opts.database) : undefined;
  const db = (opened?.db ?? opts.database) as Kysely<SecurityDatabase>;
  const closers: Array<() => Promise<void> | void> = [];
  if (opened !== undefined) closers.push(() => opened.destroy());

  try {
    const { error } = await migrateSecurityDatabase(db, tables);
    if (error !== undefined) throw new SecurityError('ERR_STORAGE_FAILURE', 'the security tables could not be migrated', { cause: error });

    const audit = createAuditLog({ ...opts.audit, db, tables, logger, clock, ...(opts.onAuditWriteFailure ? { onWriteFailure: opts.onAuditWriteFailure } : {}) });
    closers.unshift(() => audit.close());
    auditRootKeyStatus(audit, config);

    const onKeyOperation = auditKeyOperation(audit);
    const keyProvider = opts.keyProvider ?? (await defaultKeyProvider(config, db, tables, opts, onKeyOperation, logger, clock));
    if (opts.keyProvider === undefined && 'close' in keyProvider && typeof keyProvider.close === 'function') {
      const provider = keyProvider as KeyProvider & { close(): void };
      closers.push(() => provider.close());
    }
    const encryptor = createEncryptor({ keyProvider, logger, clock, onOperation: auditCryptoOperation(audit) });
    closers.push(() => encryptor.clearCache());

    const permissions = createPermissionEvaluator({
      logger,
      clock,
      onDecision: auditPermissionDecision(audit),
      ...(opts.policy === undefined ? {} : { policy: opts.policy }),
    });
    // Grants are not one row per request: their counts are written as one event per resource and
    // action on this interval (denials are each written as they happen).
    const summaryTimer = setInterval(() => auditPermissionSummary(audit, permissions.stats()), opts.permissionSummaryIntervalMs ?? 60_000);
    summaryTimer.unref();
    closers.unshift(() => {
      clearInterval(summaryTimer);
      auditPermissionSummary(audit, permissions.stats());
    });

    const lookupKey = await loadPurposeKey(db, tables, encryptor, 'api-key-lookup', clock);
    const apiKeys = createApiKeyService({
      ...opts.apiKeys,
      db,
      tables,
      encryptor,
      lookupKey,
      audit,
      logger,
      clock,
      roles: Object.keys(permissions.policy.roles),
      validatePermissions: (granted, role) => permissions.validateGrant({ role, permissions: granted }),
      assertCanGrant: (actor, next, previous) => permissions.assertCanGrant(actor, next, previous),
    });
    closers.unshift(() => apiKeys.close());

    let closed: Promise<void> | undefined;
    return {
      config,
      db,
      tables,
      keyProvider,
      encryptor,
      audit,
      permissions,
      apiKeys,
      addApiKey: (...args) => apiKeys.addApiKey(...args),
      verifyApiKey: (presented, verifyOptions) => apiKeys.verifyApiKey(presented, verifyOptions),
      close: () => (closed ??= closeAll(closers, logger)),
    };
  } catch (error) {
    await closeAll(closers, logger);
    throw error;
  }
}

/** The spec's name for {@link createSecurity}. */
export const initializeSecurity = createSecurity;

async function defaultKeyProvider(
  config: SecurityConfig,
  db: Kysely<SecurityDatabase>,
  tables: TableNames,
  opts: SecurityOptions,
  onKeyOperation: ReturnType<typeof auditKeyOperation>,
  logger: Logger,
  clock: Clock,
): Promise<KeyProvider> {
  if (config.kms.enabled) {
    const keyId = config.kms.keyId ?? config.kms.keyAlias;
    if (keyId === undefined) throw new SecurityError('ERR_INVALID_CONFIG', 'invalid security configuration: USE_AWS_KMS=true needs AWS_KMS_KEY_ID or AWS_KMS_KEY_ALIAS');
    return createKmsKeyProvider({ ...opts.kms, keyId, region: config.kms.region, onKeyOperation, logger });
  }
  if (config.encryptionKey === undefined) {
    throw new SecurityError('ERR_INVALID_CONFIG', 'invalid security configuration: ENCRYPTION_KEY is required when USE_AWS_KMS is not true');
  }
  return createLocalKeyProvider({
    rootKey: config.encryptionKey,
    keyring: createKyselyKeyringStore(db, tables),
    onKeyOperation,
    logger,
    clock,
    ...(opts.previousRootKeys === undefined ? {} : { previousRootKeys: opts.previousRootKeys }),
  });
}

/** Runs every closer in order; one failing does not stop the others. */
async function closeAll(closers: ReadonlyArray<() => Promise<void> | void>, logger: Logger): Promise<void> {
  for (const close of closers) {
    try {
      await close();
    } catch (error) {
      logger.error({ code: (error as { code?: string })?.code ?? 'unknown' }, 'closing a security component failed');
    }
  }
}
