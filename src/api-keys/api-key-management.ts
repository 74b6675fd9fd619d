import { z } from 'zod';
import { SecurityError } from '../core/errors.js';
import { apiKeyStatus, joinEnvelope, permissionsToJson, rowToRecord, valueContext, type ApiKeyRecord } from './api-key-records.js';
import { idSchema, operationOptionsSchema, parseInput, patchSchema, querySchema, reasonOptionsSchema } from './api-key-schemas.js';
import type { ApiKeyPage, ApiKeyPatch, ApiKeyQuery, OperationOptions, ReasonOptions } from './api-key-types.js';
import {
  actorOf,
  checkExpiry,
  checkGrant,
  checkPermissions,
  checkRole,
  concurrentUpdate,
  heldBy,
  invalidState,
  nextUpdatedAt,
  notFound,
  type ServiceContext,
} from './api-key-context.js';

/** The operations on existing keys: read, list, update, revoke, reveal. */
export interface KeyManagement {
  /**
   * One key's record (never its value).
   *
   * @example
   * const record = await apiKeys.getApiKey(id, { actor })
   *
   * @throws ERR_API_KEY_NOT_FOUND, ERR_INVALID_INPUT, ERR_STORAGE_FAILURE
   */
  getApiKey(id: string, options?: OperationOptions): Promise<ApiKeyRecord>;
  /**
   * Keys by user, service, role and status, newest first, a page at a time.
   *
   * @example
   * const { items, nextCursor } = await apiKeys.listApiKeys({ userId, status: 'active', limit: 20 })
   *
   * @throws ERR_INVALID_INPUT (also for a cursor that is not one this method returned),
   *   ERR_UNKNOWN_ROLE, ERR_STORAGE_FAILURE
   */
  listApiKeys(query?: ApiKeyQuery, options?: OperationOptions): Promise<ApiKeyPage>;
  /**
   * Changes label, role, permissions or expiry (null clears a label, permissions or expiry). Every
   * field is validated before anything is written; this instance's verify cache forgets the key at once.
   *
   * @example
   * await apiKeys.updateApiKey(id, { role: 'readonly', expiresAt: Date.now() + 30 * 86_400_000 }, { actor })
   *
   * @throws ERR_API_KEY_NOT_FOUND; ERR_API_KEY_INVALID_STATE for a revoked or rotated key, and, with
   *   details `{ reason: 'concurrent_update' }`, when the key was changed between its read and the
   *   write (nothing is written; read and retry); ERR_INVALID_INPUT, ERR_UNKNOWN_ROLE,
   *   ERR_INVALID_PERMISSIONS, ERR_PRIVILEGE_ESCALATION, ERR_STORAGE_FAILURE
   */
  updateApiKey(id: string, patch: ApiKeyPatch, options?: OperationOptions): Promise<ApiKeyRecord>;
  /**
   * The spec's "deletion": the row is kept (so its lookup hash keeps refusing the value and the
   * history stays), `revoked_at` and the reason are set, and the stored envelope is erased. Takes
   * effect at once on this instance, within the cache ttl on others. Revoking again changes nothing.
   * With an `actor` and `assertCanGrant`, the actor must hold at least what the key holds.
   *
   * @example
   * await apiKeys.revokeApiKey(id, { reason: 'leaked in a build log', actor })
   *
   * @throws ERR_API_KEY_NOT_FOUND, ERR_PRIVILEGE_ESCALATION; ERR_API_KEY_INVALID_STATE with details
   *   `{ reason: 'concurrent_update' }` when the key kept changing under it (nothing is written);
   *   ERR_INVALID_INPUT, ERR_STORAGE_FAILURE
   */
  revokeApiKey(id: string, options?: ReasonOptions): Promise<ApiKeyRecord>;
  /**
   * The plaintext of a recoverable key, audited as `authn_token_revealed` (warning). With an
   * `actor` and `assertCanGrant`, the actor must hold at least what the key holds.
   *
   * @example
   * const secret = await apiKeys.revealApiKey(id, { actor, reason: 'call the provider' })
   *
   * @throws ERR_API_KEY_NOT_FOUND; ERR_API_KEY_NOT_RECOVERABLE for a hash-only key;
   *   ERR_API_KEY_INVALID_STATE for a revoked key; ERR_DECRYPTION_FAILED (one fixed message) when
   *   the envelope was moved, altered or its key is gone; ERR_PRIVILEGE_ESCALATION, ERR_INVALID_INPUT,
   *   ERR_STORAGE_FAILURE
   */
  revealApiKey(id: string, options?: ReasonOptions): Promise<string>;
}

const cursorSchema = z.tuple([z.number().int().min(0), idSchema]);

/** How often a revocation reads, checks and writes again when the key changed in between. */
const REVOKE_ATTEMPTS = 3;

/**
 * Builds the operations on existing keys over a service context. Each is audited; every change
 * evicts the key from this instance's verify cache at once.
 *
 * @example
 * const management = createKeyManagement(ctx)
 *
 * @throws nothing at creation; see `ApiKeyService`
 */
export function createKeyManagement(ctx: ServiceContext): KeyManagement {
  const { store, run, clock } = ctx;

  async function load(id: string) {
    const row = await store.findById(id);
    if (row === undefined) throw notFound();
    return row;
  }

  return {
    getApiKey(id, options) {
      return run('authn_token_read', 'read', options, async (facts) => {
        const keyId = parseInput(idSchema, id, 'getApiKey id');
        parseInput(operationOptionsSchema, options ?? {}, 'getApiKey');
        facts.keyId = keyId;
        return rowToRecord(await load(keyId));
      });
    },

    listApiKeys(query, options) {
      return run('authn_token_listed', 'list', options, async (facts) => {
        const q = parseInput(querySchema, query ?? {}, 'listApiKeys');
        parseInput(operationOptionsSchema, options ?? {}, 'listApiKeys');
        if (q.role !== undefined) checkRole(ctx, q.role);
        const limit = q.limit ?? 50;
        const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
        const filter = { userId: q.userId, service: q.service, role: q.role, status: q.status, after };
        const rows = await store.list(filter, clock(), limit + 1);
        const items = rows.slice(0, limit).map(rowToRecord);
        const last = items[items.length - 1];
        Object.assign(facts, { count: items.length, userId: q.userId ?? null, service: q.service ?? null, role: q.role ?? null, status: q.status ?? null });
        return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null };
      });
    },

    updateApiKey(id, patch, options) {
      return run('authn_token_updated', 'update', options, async (facts) => {
        const now = clock();
        const keyId = parseInput(idSchema, id, 'updateApiKey id');
        const p = parseInput(patchSchema, patch, 'updateApiKey');
        parseInput(operationOptionsSchema, options ?? {}, 'updateApiKey');
        const actor = actorOf(options);
        const role = p.role === undefined ? undefined : checkRole(ctx, p.role);
        const expiresAt = p.expiresAt === undefined ? undefined : checkExpiry(p.expiresAt, now, 'updateApiKey');
        Object.assign(facts, { keyId, fields: Object.keys(p).filter((k) => p[k as keyof typeof p] !== undefined).join(',') });
        const current = rowToRecord(await load(keyId));
        // Permissions are checked against the role the key will hold.
        const permissions = p.permissions === undefined ? undefined : checkPermissions(ctx, p.permissions, role ?? current.role, 'updateApiKey');
        const state = apiKeyStatus(current, now);
        if (state === 'revoked' || state === 'rotated') throw invalidState(state);
        const target = { role: role ?? current.role, permissions: permissions === undefined ? current.permissions : permissions };
        checkGrant(ctx, actor, target, heldBy(current));
        // Only the row as read and checked above is updated; updated_at always moves, so an
        // identical patch still changes the row (MySQL counts changed rows, not matched ones).
        const changed = await store.updateLive(keyId, current.updatedAt, {
          updated_at: nextUpdatedAt(now, current.updatedAt),
          ...(p.label === undefined ? {} : { label: p.label }),
          ...(role === undefined ? {} : { role }),
          ...(permissions === undefined ? {} : { permissions: permissionsToJson(permissions) }),
          ...(expiresAt === undefined ? {} : { expires_at: expiresAt }),
        });
        ctx.cache?.evictId(keyId);
        const after = rowToRecord(await load(keyId));
        if (!changed) {
          const latest = apiKeyStatus(after, now);
          if (latest === 'revoked' || latest === 'rotated') throw invalidState(latest);
          throw concurrentUpdate();
        }
        return after;
      });
    },

    revokeApiKey(id, options) {
      return run('authn_token_revoked', 'revoke', options, async (facts) => {
        const keyId = parseInput(idSchema, id, 'revokeApiKey id');
        const opts = parseInput(reasonOptionsSchema, options ?? {}, 'revokeApiKey');
        const actor = actorOf(options);
        Object.assign(facts, { keyId, reason: opts.reason ?? null });
        // A key changed between the read and the write is read and checked again: a revocation
        // should not fail for a concurrent label change, but must be checked against the key as written.
        for (let attempt = 1; ; attempt++) {
          const current = rowToRecord(await load(keyId));
          // Disabling a key is refused to an actor weaker than the key.
          checkGrant(ctx, actor, heldBy(current), heldBy(current));
          if (current.revokedAt !== null) {
            facts.alreadyRevoked = true;
            return current;
          }
          const now = clock();
          const changed = await store.revoke(keyId, current.updatedAt, now, nextUpdatedAt(now, current.updatedAt), opts.reason ?? null);
          ctx.cache?.evictId(keyId);
          if (changed) {
            facts.alreadyRevoked = false;
            return rowToRecord(await load(keyId));
          }
          if (attempt >= REVOKE_ATTEMPTS) throw concurrentUpdate();
        }
      });
    },

    revealApiKey(id, options) {
      return run('authn_token_revealed', 'reveal', options, async (facts) => {
        const keyId = parseInput(idSchema, id, 'revealApiKey id');
        const opts = parseInput(reasonOptionsSchema, options ?? {}, 'revealApiKey');
        const actor = actorOf(options);
        Object.assign(facts, { keyId, reason: opts.reason ?? null });
        const found = await store.findEnvelope(keyId);
        if (found === undefined) throw notFound();
        const { row, encrypted_value } = found;
        // Reading the value back is taking the key over: the actor must hold at least what it holds.
        const held = rowToRecord(row);
        checkGrant(ctx, actor, heldBy(held), heldBy(held));
        if (row.revoked_at !== null) throw invalidState('revoked');
        if (row.auth_tag === null) throw new SecurityError('ERR_API_KEY_NOT_RECOVERABLE', 'the API key is stored hash-only');
        const envelope = joinEnvelope({ encrypted_value, auth_tag: row.auth_tag, key_version: row.key_version });
        return ctx.encryptor.decryptToString(envelope, valueContext(ctx.tables.apiKeys, row.id, row.user_id, row.service));
      });
    },
  };
}

function encodeCursor(record: ApiKeyRecord): string {
  return Buffer.from(JSON.stringify([record.createdAt, record.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // Not JSON: the same refusal as any other bad cursor below.
    value = undefined;
  }
  const [createdAt, id] = parseInput(cursorSchema, value, 'listApiKeys cursor');
  return { createdAt, id };
}
