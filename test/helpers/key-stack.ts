import { randomBytes, type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { createEncryptor, type Encryptor } from '../../src/crypto/encryptor.js';
import { createLocalKeyProvider } from '../../src/keys/local-key-provider.js';
import { loadPurposeKey } from '../../src/keys/purpose-keys.js';
import { silentLogger } from '../../src/core/logger.js';
import { migrateSecurityDatabase } from '../../src/storage/migrations.js';
import { createKyselyKeyringStore } from '../../src/storage/kysely-keyring-store.js';
import type { SecurityDatabase } from '../../src/storage/schema.js';
import type { TableNames } from '../../src/storage/table-names.js';

/**
 * What the API-key tests stand on, all real: the migrated tables, a local key provider with its
 * keyring in the database, an encryptor and the API-key lookup key.
 */
export async function keyStack(db: Kysely<SecurityDatabase>, tables: TableNames): Promise<{ encryptor: Encryptor; lookupKey: KeyObject }> {
  const { error } = await migrateSecurityDatabase(db, tables);
  if (error) throw error;
  const keyProvider = await createLocalKeyProvider({ rootKey: randomBytes(32), keyring: createKyselyKeyringStore(db, tables), logger: silentLogger });
  const encryptor = createEncryptor({ keyProvider, logger: silentLogger });
  const lookupKey = await loadPurposeKey(db, tables, encryptor, 'api-key-lookup', Date.now);
  return { encryptor, lookupKey };
}
