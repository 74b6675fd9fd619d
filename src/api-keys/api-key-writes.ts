import { SecurityError } from '../core/errors.js';
import { apiKeyStatus, rowToRecord, type ApiKeyRecord } from './api-key-records.js';
import { addOptionsSchema, hostValueSchema, idSchema, issueOptionsSchema, parseInput, rotateOptionsSchema } from './api-key-schemas.js';
import type { ApiKeyGrantOptions, IssueApiKeyOptions, IssuedApiKey, RotateApiKeyOptions, RotatedApiKey } from './api-key-types.js';
import {
  actorOf,
  buildRow,
  checkExpiry,
  checkGrant,
  checkPermissions,
  checkRole,
  concurrentUpdate,
  heldBy,
  invalidState,
  newKeyId,
  nextUpdatedAt,
  notFound,
  parseOwner,
  type Grant,
  type ServiceContext,
} from './api-key-context.js';
import { generateIssuedKey, parseIssuedKey } from './key-format.js';

/** The operations that create keys: add (host value), issue (library value), rotate. */
export interface KeyWrites {
  /**
   * Stores a value the host was given (a third-party key, say), exactly as the spec calls it. The
   * value is kept recoverable, as an envelope bound to this row (table, column, id, user, service),
   * and as a keyed HMAC lookup hash so `verifyApiKey` finds it with one indexed query. It must be
   * 16 to 4096 printable ASCII characters without spaces: a short or low-entropy value would make
   * its lookup hash guessable by anyone holding the table and the lookup key.
   *
   * @example
   * const record = await apiKeys.addApiKey(userId, 'openai', 'default', 'sk-…', {
   *   label: 'My API Key', role: 'user', permissions: { reports: ['create', 'read', 'list'] },
   * })
   *
   * @throws ERR_INVALID_INPUT (nothing about the value but the rule it broke), ERR_UNKNOWN_ROLE,
   *   ERR_INVALID_PERMISSIONS, ERR_PRIVILEGE_ESCALATION, ERR_API_KEY_EXISTS (the value is already
   *   stored), ERR_STORAGE_FAILURE, encryptor and key-provider errors. Nothing is written on any of them.
   */
  addApiKey(userId: string, service: string, keyName: string, keyValue: string, options?: ApiKeyGrantOptions): Promise<ApiKeyRecord>;
  /**
   * Generates a key (`afk_` + 256 random bits in base62 + a CRC32 checksum) and returns it this
   * once. It is stored hash-only unless `recoverable: true`.
   *
   * @example
   * const { key, record } = await apiKeys.issueApiKey(userId, 'agentflow', 'ci', { role: 'readonly' })
   *
   * @throws ERR_INVALID_INPUT, ERR_UNKNOWN_ROLE, ERR_INVALID_PERMISSIONS, ERR_PRIVILEGE_ESCALATION,
   *   ERR_STORAGE_FAILURE
   */
  issueApiKey(userId: string, service: string, keyName: string, options?: IssueApiKeyOptions): Promise<IssuedApiKey>;
  /**
   * Issues a successor with the same user, service, name, label, role, permissions and expiry
   * (`previousKeyId` = the old id), and marks the old key `rotated`: it keeps verifying until
   * `graceExpiresAt`. Both happen in one transaction. The successor is always an issued key.
   *
   * @example
   * const { key, record, previous } = await apiKeys.rotateApiKey(id, { gracePeriodMs: 24 * 3600_000 })
   *
   * @throws ERR_API_KEY_NOT_FOUND; ERR_API_KEY_INVALID_STATE for a revoked, expired or already
   *   rotated key (also when another instance rotated it first), and, with details
   *   `{ reason: 'concurrent_update' }`, when the key was changed between its read and the write
   *   (nothing is written; read and retry); ERR_INVALID_INPUT, ERR_PRIVILEGE_ESCALATION, ERR_STORAGE_FAILURE
   */
  rotateApiKey(id: string, options?: RotateApiKeyOptions): Promise<RotatedApiKey>;
}

/**
 * Builds the creating operations over a service context. Every input is validated before anything
 * is encrypted or written; the escalation check runs after validation and before any write.
 *
 * @example
 * const writes = createKeyWrites(ctx)
 *
 * @throws nothing at creation; see `ApiKeyService`
 */
export function createKeyWrites(ctx: ServiceContext): KeyWrites {
  const { store, run, clock } = ctx;

  function grantOf(options: { label?: string | null; role?: string; permissions?: unknown; expiresAt?: number | null }, now: number, where: string): Grant {
    const role = checkRole(ctx, options.role ?? 'user');
    return {
      label: options.label ?? null,
      role,
      permissions: checkPermissions(ctx, options.permissions, role, where),
      expiresAt: checkExpiry(options.expiresAt, now, where),
    };
  }

  return {
    addApiKey(userId, service, keyName, keyValue, options) {
      return run('authn_token_created', 'create', options, async (facts) => {
        const now = clock();
        const owner = parseOwner(userId, service, keyName, 'addApiKey');
        // The value is never echoed: the error names the argument and the rule only.
        parseInput(hostValueSchema, keyValue, 'addApiKey keyValue');
        // A value in the issued format must carry its checksum, or verifyApiKey would refuse it as malformed.
        if (keyValue.startsWith(`${ctx.keyPrefix}_`) && parseIssuedKey(keyValue, ctx.keyPrefix) === null) {
          throw new SecurityError('ERR_INVALID_INPUT', 'invalid input for addApiKey keyValue: bad_checksum', {
            details: { where: 'addApiKey', problems: ['keyValue: bad_checksum'] },
          });
        }
        const opts = parseInput(addOptionsSchema, options ?? {}, 'addApiKey');
        const grant = grantOf(opts, now, 'addApiKey');
        const actor = actorOf(options);
        Object.assign(facts, { origin: 'host', service: owner.service, role: grant.role, recoverable: true });
        checkGrant(ctx, actor, { role: grant.role, permissions: grant.permissions });
        const id = newKeyId();
        facts.keyId = id;
        const row = await buildRow(ctx, id, owner, grant, keyValue, true, now, actor);
        await store.insert(row);
        return rowToRecord(row);
      });
    },

    issueApiKey(userId, service, keyName, options) {
      return run('authn_token_created', 'issue', options, async (facts) => {
        const now = clock();
        const owner = parseOwner(userId, service, keyName, 'issueApiKey');
        const opts = parseInput(issueOptionsSchema, options ?? {}, 'issueApiKey');
        const grant = grantOf(opts, now, 'issueApiKey');
        const actor = actorOf(options);
        const recoverable = opts.recoverable ?? false;
        Object.assign(facts, { origin: 'issued', service: owner.service, role: grant.role, recoverable });
        checkGrant(ctx, actor, { role: grant.role, permissions: grant.permissions });
        const id = newKeyId();
        facts.keyId = id;
        const key = generateIssuedKey(ctx.keyPrefix);
        const row = await buildRow(ctx, id, owner, grant, key, recoverable, now, actor);
        await store.insert(row);
        return { key, record: rowToRecord(row) };
      });
    },

    rotateApiKey(id, options) {
      return run('authn_token_rotated', 'rotate', options, async (facts) => {
        const now = clock();
        const keyId = parseInput(idSchema, id, 'rotateApiKey id');
        const opts = parseInput(rotateOptionsSchema, options ?? {}, 'rotateApiKey');
        const actor = actorOf(options);
        facts.keyId = keyId;
        const row = await store.findById(keyId);
        if (row === undefined) throw notFound();
        const old = rowToRecord(row);
        const status = apiKeyStatus(old, now);
        if (status === 'revoked' || status === 'rotated' || status === 'expired') throw invalidState(status);
        // The successor copies this snapshot; the guarded UPDATE below only matches the row as read here.
        checkGrant(ctx, actor, heldBy(old), heldBy(old));
        const successorId = newKeyId();
        const key = generateIssuedKey(ctx.keyPrefix);
        const owner = { userId: old.userId, service: old.service, keyName: old.keyName };
        const grant: Grant = { label: old.label, role: old.role, permissions: old.permissions, expiresAt: old.expiresAt };
        const recoverable = opts.recoverable ?? old.recoverable;
        const successor = await buildRow(ctx, successorId, owner, grant, key, recoverable, now, actor, keyId);
        const graceExpiresAt = now + (opts.gracePeriodMs ?? ctx.rotationGracePeriodMs);
        // The guarded UPDATE in the transaction settles a race with a concurrent revoke, rotate or
        // update: if the old key changed since it was read, neither it nor the successor is written.
        if (!(await store.rotate(keyId, old.updatedAt, successor, now, nextUpdatedAt(now, old.updatedAt), graceExpiresAt))) {
          const latest = await store.findById(keyId);
          if (latest === undefined) throw notFound();
          const state = apiKeyStatus(rowToRecord(latest), now);
          if (state === 'revoked' || state === 'rotated' || state === 'expired') throw invalidState(state);
          throw concurrentUpdate();
        }
        ctx.cache?.evictId(keyId);
        Object.assign(facts, { successorId, graceExpiresAt, recoverable });
        const previous = await store.findById(keyId);
        if (previous === undefined) throw notFound();
        return { key, record: rowToRecord(successor), previous: rowToRecord(previous) };
      });
    },
  };
}
