import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { SecurityError, decryptionFailed, isSecurityError } from '../core/errors.js';
import type { Encryptor } from '../crypto/encryptor.js';
import { isUniqueViolation } from '../storage/dialect.js';
import type { SecurityDatabase } from '../storage/schema.js';
import type { TableNames } from '../storage/table-names.js';

/** The purposes a library secret key serves. One key per purpose; none is ever used for another. */
export type KeyPurpose = 'api-key-lookup';

/**
 * Loads (or, the first time, creates) the 32-byte secret key for one purpose. The key is random,
 * stored as an envelope under the encryptor (so it is protected by the local root or by KMS, and
 * follows key rotation like any other envelope), and bound to its purpose by the envelope's
 * context. Two instances creating it at once: one insert wins and the other reads the winner's.
 *
 * @throws ERR_DECRYPTION_FAILED when the stored key cannot be opened (wrong root key),
 *   ERR_STORAGE_FAILURE when the table cannot be read or written
 */
export async function loadPurposeKey(
  db: Kysely<SecurityDatabase>,
  tables: TableNames,
  encryptor: Encryptor,
  purpose: KeyPurpose,
  clock: () => number,
): Promise<KeyObject> {
  const name = `purpose:${purpose}:v1`;
  const context = { purpose: name };
  const read = async (): Promise<KeyObject | undefined> => {
    const row = await storage(() => db.selectFrom(tables.secrets).select('envelope').where('name', '=', name).executeTakeFirst());
    if (row === undefined) return undefined;
    const bytes = await encryptor.decrypt(row.envelope, context);
    if (bytes.length !== 32) {
      bytes.fill(0);
      throw decryptionFailed();
    }
    const key = createSecretKey(bytes);
    bytes.fill(0);
    return key;
  };
  const existing = await read();
  if (existing !== undefined) return existing;
  const fresh = randomBytes(32);
  try {
    const envelope = await encryptor.encryptToString(fresh, context);
    await db.insertInto(tables.secrets).values({ name, envelope, created_at: clock() }).execute();
    return createSecretKey(fresh);
  } catch (error) {
    if (!isUniqueViolation(error)) throw isSecurityError(error) ? error : storageFailure(error);
    const winner = await read();
    if (winner === undefined) throw storageFailure(error);
    return winner;
  } finally {
    fresh.fill(0);
  }
}

async function storage<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw storageFailure(error);
  }
}

function storageFailure(cause: unknown): SecurityError {
  return new SecurityError('ERR_STORAGE_FAILURE', 'the library secrets table could not be read or written', { cause });
}
