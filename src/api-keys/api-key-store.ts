import { sql, type Insertable, type Kysely, type Updateable } from 'kysely';
import { SecurityError, isSecurityError } from '../core/errors.js';
import { isUniqueViolation } from '../storage/dialect.js';
import type { ApiKeysTable, SecurityDatabase } from '../storage/schema.js';
import type { TableNames } from '../storage/table-names.js';
import { RECORD_COLUMNS, type ApiKeyRow, type ApiKeyStatus } from './api-key-records.js';

/** Filters of a list query, already validated. */
export interface ListFilter {
  readonly userId?: string;
  readonly service?: string;
  readonly role?: string;
  readonly status?: ApiKeyStatus;
  /** Keyset position: rows strictly older than this (created_at, id), newest first. */
  readonly after?: { readonly createdAt: number; readonly id: string };
}

/** The SQL of the API-key service. Every database error leaves as ERR_STORAGE_FAILURE with its cause. */
export interface ApiKeyStore {
  /** @throws ERR_API_KEY_EXISTS when the lookup hash (the value) is already stored */
  insert(row: Insertable<ApiKeysTable>): Promise<void>;
  /** The one indexed lookup of `verifyApiKey` (unique index on `lookup_hash`). */
  findByHash(hash: string): Promise<ApiKeyRow | undefined>;
  findById(id: string): Promise<ApiKeyRow | undefined>;
  findEnvelope(id: string): Promise<{ row: ApiKeyRow; encrypted_value: string | null } | undefined>;
  list(filter: ListFilter, now: number, limit: number): Promise<ApiKeyRow[]>;
  /**
   * Updates a key that is neither revoked nor rotated and whose `updated_at` is still `expected`
   * (the snapshot the caller checked); false when no row matched. `set` must move `updated_at`.
   */
  updateLive(id: string, expected: number, set: Updateable<ApiKeysTable>): Promise<boolean>;
  /**
   * Sets `revoked_at` (and `updated_at` to `updatedAt`) on a key not yet revoked whose `updated_at`
   * is still `expected`, and erases its envelope; false when no row matched.
   */
  revoke(id: string, expected: number, at: number, updatedAt: number, reason: string | null): Promise<boolean>;
  /**
   * Marks the old key rotated (with `updated_at` = `updatedAt`) and inserts its successor, in one
   * transaction. False, and nothing written, when the old key is revoked, already rotated, expired,
   * or its `updated_at` is no longer `expected`.
   */
  rotate(oldId: string, expected: number, successor: Insertable<ApiKeysTable>, now: number, updatedAt: number, graceExpiresAt: number): Promise<boolean>;
  /** Raises `last_used_at` to each given time, never lowering it; one UPDATE per 200 keys. */
  writeLastUse(batch: ReadonlyArray<readonly [id: string, at: number]>): Promise<void>;
}

const LAST_USE_CHUNK = 200;

/**
 * The API-key queries over a host's Kysely instance, on SQLite, PostgreSQL and MySQL/MariaDB.
 *
 * @example
 * const store = createApiKeyStore(db, resolveTableNames())
 *
 * @throws nothing at creation; see each method
 */
export function createApiKeyStore(db: Kysely<SecurityDatabase>, tables: TableNames): ApiKeyStore {
  const t = tables.apiKeys;
  const select = (d: Kysely<SecurityDatabase> = db) => d.selectFrom(t).select(RECORD_COLUMNS);

  return {
    insert: (row) =>
      guard(async () => {
        try {
          await db.insertInto(t).values(row).execute();
        } catch (error) {
          if (isUniqueViolation(error)) throw new SecurityError('ERR_API_KEY_EXISTS', 'this API key value is already stored');
          throw error;
        }
      }),
    findByHash: (hash) => guard(() => select().where('lookup_hash', '=', hash).executeTakeFirst()),
    findById: (id) => guard(() => select().where('id', '=', id).executeTakeFirst()),
    findEnvelope: (id) =>
      guard(async () => {
        const row = await select().select('encrypted_value').where('id', '=', id).executeTakeFirst();
        if (row === undefined) return undefined;
        const { encrypted_value, ...rest } = row;
        return { row: rest, encrypted_value };
      }),
    list: (filter, now, limit) =>
      guard(() => {
        let q = select();
        if (filter.userId !== undefined) q = q.where('user_id', '=', filter.userId);
        if (filter.service !== undefined) q = q.where('service', '=', filter.service);
        if (filter.role !== undefined) q = q.where('role', '=', filter.role);
        const status = filter.status;
        if (status === 'revoked') q = q.where('revoked_at', 'is not', null);
        else if (status !== undefined) {
          q = q.where('revoked_at', 'is', null);
          if (status === 'rotated') q = q.where('rotation_status', '=', 'rotated');
          else if (status === 'expired') {
            q = q.where('rotation_status', '!=', 'rotated').where('expires_at', 'is not', null).where('expires_at', '<=', now);
          } else {
            q = q.where('rotation_status', '=', status).where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
          }
        }
        const after = filter.after;
        if (after !== undefined) {
          q = q.where((eb) =>
            eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]),
          );
        }
        return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
      }),
    updateLive: (id, expected, set) =>
      guard(async () => {
        const result = await db
          .updateTable(t)
          .set(set)
          .where('id', '=', id)
          .where('revoked_at', 'is', null)
          .where('rotation_status', '!=', 'rotated')
          .where('updated_at', '=', expected)
          .executeTakeFirst();
        return Number(result.numUpdatedRows) > 0;
      }),
    revoke: (id, expected, at, updatedAt, reason) =>
      guard(async () => {
        const result = await db
          .updateTable(t)
          // The envelope goes with the key: a revoked (the spec's "deleted") value can no longer be read back.
          .set({ revoked_at: at, revoked_reason: reason, updated_at: updatedAt, encrypted_value: null, auth_tag: null, key_version: null })
          .where('id', '=', id)
          .where('revoked_at', 'is', null)
          .where('updated_at', '=', expected)
          .executeTakeFirst();
        return Number(result.numUpdatedRows) > 0;
      }),
    rotate: (oldId, expected, successor, now, updatedAt, graceExpiresAt) =>
      guard(async () => {
        const refused = Symbol('refused');
        try {
          await db.transaction().execute(async (trx) => {
            const result = await trx
              .updateTable(t)
              .set({ rotation_status: 'rotated', rotated_at: now, grace_expires_at: graceExpiresAt, updated_at: updatedAt })
              .where('id', '=', oldId)
              .where('revoked_at', 'is', null)
              .where('rotation_status', '!=', 'rotated')
              .where('updated_at', '=', expected)
              .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
              .executeTakeFirst();
            // Rolls the transaction back: nothing is written for a key that may not be rotated or that
            // changed since the caller read and checked it.
            if (Number(result.numUpdatedRows) !== 1) throw refused;
            await trx.insertInto(t).values(successor).execute();
          });
          return true;
        } catch (error) {
          if (error === refused) return false;
          if (isUniqueViolation(error)) throw new SecurityError('ERR_API_KEY_EXISTS', 'this API key value is already stored');
          throw error;
        }
      }),
    writeLastUse: (batch) =>
      guard(async () => {
        for (let i = 0; i < batch.length; i += LAST_USE_CHUNK) {
          const chunk = batch.slice(i, i + LAST_USE_CHUNK);
          // Times are the service clock's integers, inlined as literals so every dialect types the
          // CASE as an integer (PostgreSQL would read untyped parameters as text); ids stay parameters.
          const at = sql`case ${sql.ref('id')} ${sql.join(chunk.map(([id, ms]) => sql`when ${id} then ${sql.lit(Math.trunc(ms))}`), sql` `)} end`;
          await db
            .updateTable(t)
            .set({ last_used_at: sql<number>`case when ${sql.ref('last_used_at')} is null or ${sql.ref('last_used_at')} < ${at} then ${at} else ${sql.ref('last_used_at')} end` })
            .where('id', 'in', chunk.map(([id]) => id))
            .execute();
        }
      }),
  };
}

/** Runs a query; a library error passes through, anything else becomes ERR_STORAGE_FAILURE. */
async function guard<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (error) {
    if (isSecurityError(error)) throw error;
    throw new SecurityError('ERR_STORAGE_FAILURE', 'the API-key table could not be read or written', { cause: error });
  }
}
