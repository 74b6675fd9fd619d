import { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import { nullAuditSink, type AuditSink } from '../audit/events.js';
import type { Encryptor } from '../crypto/encryptor.js';
import type { SecurityDatabase } from '../storage/schema.js';
import type { TableNames } from '../storage/table-names.js';
import { auditedRunner } from './api-key-audit.js';
import type { AssertCanGrant, ServiceContext } from './api-key-context.js';
import { createKeyManagement, type KeyManagement } from './api-key-management.js';
import type { ApiKeyPermissions } from './api-key-records.js';
import { POLICY_NAME, defaultValidatePermissions } from './api-key-schemas.js';
import { createApiKeyStore } from './api-key-store.js';
import type { VerifyOptions, VerifyResult } from './api-key-types.js';
import { createVerifier } from './api-key-verifier.js';
import { createKeyWrites, type KeyWrites } from './api-key-writes.js';
import { DEFAULT_KEY_PREFIX, KEY_PREFIX_PATTERN } from './key-format.js';
import { LastUseTracker } from './last-use-tracker.js';
import { DEFAULT_VERIFY_CACHE, VerifyCache, type VerifyCacheLimits } from './verify-cache.js';

/** Options of {@link createApiKeyService}. */
export interface ApiKeyServiceOptions {
  /** The host's Kysely instance, migrated with `migrateSecurityDatabase`. */
  readonly db: Kysely<SecurityDatabase>;
  /** From `resolveTableNames`. */
  readonly tables: TableNames;
  /** Encrypts recoverable values. */
  readonly encryptor: Encryptor;
  /** The HMAC key of lookup hashes: `loadPurposeKey(db, tables, encryptor, 'api-key-lookup', clock)`. */
  readonly lookupKey: KeyObject;
  /** Where audit events go. @default nullAuditSink */
  readonly audit?: AuditSink;
  /** The roles a key may hold. @default ['admin', 'manager', 'user', 'readonly'] */
  readonly roles?: readonly string[];
  /**
   * Checks a custom permission map, after its structure was checked, for the role the key will
   * hold (the permission evaluator's policy check). Throw ERR_INVALID_PERMISSIONS to refuse.
   * @default names /^[a-z][a-z0-9_]{0,63}$/, non-empty action lists without duplicates
   */
  readonly validatePermissions?: (permissions: ApiKeyPermissions, role: string) => void;
  /**
   * The escalation check, called on create, issue, update and rotate when an `actor` is given, and
   * on reveal and revoke with what the key holds as both `next` and `previous` (the actor must hold
   * at least as much). Throw ERR_PRIVILEGE_ESCALATION to refuse; any other throw is also a refusal.
   * @default none: without it, `actor` is only recorded
   */
  readonly assertCanGrant?: AssertCanGrant;
  /** The recognisable prefix of issued keys, 2 to 8 lower-case letters. @default 'afk' */
  readonly keyPrefix?: string;
  /**
   * The in-process cache of verified keys, or false. Revocation on this instance is immediate;
   * other instances see changes after at most `ttlMs`. @default { ttlMs: 5000, maxEntries: 10000 }
   */
  readonly verifyCache?: Partial<VerifyCacheLimits> | false;
  /** How often last-use times are written, in one batch. @default 60000 */
  readonly lastUseFlushIntervalMs?: number;
  /** How long a rotated key keeps working. @default 604800000 (7 days) */
  readonly rotationGracePeriodMs?: number;
  /** @default Date.now */
  readonly clock?: Clock;
  /** @default process warnings for warn and error */
  readonly logger?: Logger;
}

/**
 * API keys: the spec's `addApiKey`, plus issuing, verifying, reading, listing, updating, rotating,
 * revoking and revealing. Every operation but `verifyApiKey` records its own audit event;
 * `verifyApiKey` records `authn_api_key_success` or `authn_api_key_fail`.
 */
export interface ApiKeyService extends KeyWrites, KeyManagement {
  /**
   * Checks a presented key: one HMAC, one indexed lookup (or a cache hit), one constant-time
   * compare. Never throws for any presented value; an HTTP adapter answers 401 for every failure.
   * @throws ERR_STORAGE_FAILURE when the database cannot be read
   */
  verifyApiKey(presented: unknown, options?: VerifyOptions): Promise<VerifyResult>;
  /**
   * Writes pending last-use times now; resolves with the number of keys written.
   * @throws ERR_STORAGE_FAILURE (the times are kept for the next flush)
   */
  flushLastUse(): Promise<number>;
  /**
   * Stops the flush timer, writes pending last-use times and empties the cache.
   * @throws ERR_STORAGE_FAILURE
   */
  close(): Promise<void>;
}

const fn = <T>() => z.custom<T>((v) => typeof v === 'function');
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const DAY_MS = 24 * 60 * 60 * 1000;
const optionsSchema = z.strictObject({
  db: z.custom<Kysely<SecurityDatabase>>((v) => typeof v === 'object' && v !== null && typeof (v as Kysely<SecurityDatabase>).selectFrom === 'function'),
  tables: z.custom<TableNames>((v) => typeof v === 'object' && v !== null && typeof (v as TableNames).apiKeys === 'string'),
  encryptor: z.custom<Encryptor>((v) => typeof v === 'object' && v !== null && typeof (v as Encryptor).encrypt === 'function' && typeof (v as Encryptor).decryptToString === 'function'),
  // At least 256 bits: HMAC-SHA256 gains nothing from more, and a shorter key is a weaker lookup hash.
  lookupKey: z.custom<KeyObject>((v) => v instanceof KeyObject && v.type === 'secret' && (v.symmetricKeySize ?? 0) >= 32),
  audit: z.custom<AuditSink>((v) => typeof v === 'object' && v !== null && typeof (v as AuditSink).record === 'function').optional(),
  roles: z.array(z.string().regex(POLICY_NAME)).min(1).max(64).refine((r) => new Set(r).size === r.length).optional(),
  validatePermissions: fn<(permissions: ApiKeyPermissions, role: string) => void>().optional(),
  assertCanGrant: fn<AssertCanGrant>().optional(),
  keyPrefix: z.string().regex(KEY_PREFIX_PATTERN).optional(),
  verifyCache: z.union([z.literal(false), z.strictObject({ ttlMs: int(1, 60 * 60 * 1000), maxEntries: int(1, 1_000_000) }).partial()]).optional(),
  lastUseFlushIntervalMs: int(1000, DAY_MS).optional(),
  rotationGracePeriodMs: int(0, 365 * DAY_MS).optional(),
  clock: fn<Clock>().optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
});

/**
 * Creates the API-key service. Options are validated once, here.
 *
 * @example
 * const tables = resolveTableNames()
 * const lookupKey = await loadPurposeKey(db, tables, encryptor, 'api-key-lookup', Date.now)
 * const apiKeys = createApiKeyService({ db, tables, encryptor, lookupKey, audit })
 * const stored = await apiKeys.addApiKey(userId, 'openai', 'default', 'sk-…', { label: 'My API Key', role: 'user' })
 * const { key } = await apiKeys.issueApiKey(userId, 'agentflow', 'ci')
 * const result = await apiKeys.verifyApiKey(key, { ip: '203.0.113.7' })
 *
 * @throws ERR_INVALID_OPTIONS
 */
export function createApiKeyService(options: ApiKeyServiceOptions): ApiKeyService {
  const opts = parseOptions(optionsSchema, options, 'createApiKeyService');
  const logger = opts.logger ?? defaultLogger;
  const clock = opts.clock ?? systemClock;
  const audit = opts.audit ?? nullAuditSink;
  const store = createApiKeyStore(opts.db, opts.tables);
  const cache = opts.verifyCache === false ? undefined : new VerifyCache({ ...DEFAULT_VERIFY_CACHE, ...opts.verifyCache });
  const tracker = new LastUseTracker(store.writeLastUse, opts.lastUseFlushIntervalMs ?? 60_000, logger);
  const keyPrefix = opts.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const ctx: ServiceContext = {
    store,
    tables: opts.tables,
    encryptor: opts.encryptor,
    lookupKey: opts.lookupKey,
    roles: new Set(opts.roles ?? ['admin', 'manager', 'user', 'readonly']),
    validatePermissions: opts.validatePermissions ?? defaultValidatePermissions,
    assertCanGrant: opts.assertCanGrant,
    keyPrefix,
    cache,
    rotationGracePeriodMs: opts.rotationGracePeriodMs ?? 7 * DAY_MS,
    clock,
    run: auditedRunner(audit),
  };
  tracker.start();
  return {
    ...createKeyWrites(ctx),
    ...createKeyManagement(ctx),
    verifyApiKey: createVerifier({ store, lookupKey: opts.lookupKey, keyPrefix, cache, tracker, audit, clock }),
    flushLastUse: () => tracker.flush(),
    async close() {
      await tracker.stop();
      cache?.clear();
    },
  };
}
