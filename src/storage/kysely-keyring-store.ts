import type { Insertable, Kysely } from 'kysely';
import type { KeyringStore, KeyVersionRecord } from '../keys/keyring.js';
import { isUniqueViolation } from './dialect.js';
import { toMillis, type SecurityDatabase, type SecurityKeyVersionsTable } from './schema.js';
import type { TableNames } from './table-names.js';

/**
 * The keyring in the database. The primary key (key id, version) makes version creation atomic:
 * of two instances that insert version N+1 at once, one insert fails and that instance loads the
 * winner's key instead.
 *
 * @example
 * const keyProvider = await createLocalKeyProvider({ rootKey, keyring: createKyselyKeyringStore(db, tables) })
 */
export function createKyselyKeyringStore(db: Kysely<SecurityDatabase>, tables: TableNames): KeyringStore {
  const table = tables.keyVersions;
  const toRecord = (row: { key_id: string; version: number; wrapped_key: string; root_fingerprint: string; created_at: number | string }): KeyVersionRecord => ({
    keyId: row.key_id,
    version: Number(row.version),
    wrappedKey: Buffer.from(row.wrapped_key, 'base64url'),
    rootFingerprint: row.root_fingerprint,
    createdAt: toMillis(row.created_at),
  });
  return {
    async list(keyId) {
      const rows = await db.selectFrom(table).selectAll().where('key_id', '=', keyId).orderBy('version').execute();
      return rows.map(toRecord);
    },
    async get(keyId, version) {
      const row = await db.selectFrom(table).selectAll().where('key_id', '=', keyId).where('version', '=', version).executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    },
    async insert(record) {
      const row: Insertable<SecurityKeyVersionsTable> = {
        key_id: record.keyId,
        version: record.version,
        wrapped_key: Buffer.from(record.wrappedKey).toString('base64url'),
        root_fingerprint: record.rootFingerprint,
        created_at: record.createdAt,
      };
      try {
        await db.insertInto(table).values(row).execute();
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },
  };
}
