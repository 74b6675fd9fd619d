import { beforeAll, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { describeEachDatabase } from '../helpers/databases.js';
import { migrateSecurityDatabase } from '../../src/storage/migrations.js';
import { resolveTableNames } from '../../src/storage/table-names.js';
import { createKyselyKeyringStore } from '../../src/storage/kysely-keyring-store.js';
import { createLocalKeyProvider } from '../../src/keys/local-key-provider.js';
import { createEncryptor } from '../../src/crypto/encryptor.js';
import { silentLogger } from '../../src/core/logger.js';

const tables = resolveTableNames();
const quiet = { logger: silentLogger };

describeEachDatabase('keyring in the database', (get) => {
  beforeAll(async () => {
    const { error } = await migrateSecurityDatabase(get().db, tables);
    if (error) throw error;
  });

  it('persists versions: a restarted provider decrypts what an earlier one wrote, after rotation', async () => {
    const rootKey = randomBytes(32);
    const keyId = `restart-${randomBytes(3).toString('hex')}`;
    const first = await createLocalKeyProvider({ rootKey, keyId, keyring: createKyselyKeyringStore(get().db, tables), ...quiet });
    const envelope = await createEncryptor({ keyProvider: first, ...quiet }).encrypt('persisted', { row: '1' });
    await first.rotate();
    const restarted = await createLocalKeyProvider({ rootKey, keyId, keyring: createKyselyKeyringStore(get().db, tables), ...quiet });
    expect(restarted.currentKey().keyVersion).toBe(2);
    expect(await createEncryptor({ keyProvider: restarted, ...quiet }).decryptToString(envelope, { row: '1' })).toBe('persisted');
  });

  it('two instances that rotate at once cannot both create version N+1', async () => {
    const rootKey = randomBytes(32);
    const keyId = `race-${randomBytes(3).toString('hex')}`;
    const other = await get().openAnother();
    const a = await createLocalKeyProvider({ rootKey, keyId, keyring: createKyselyKeyringStore(get().db, tables), ...quiet });
    const b = await createLocalKeyProvider({ rootKey, keyId, keyring: createKyselyKeyringStore(other.db, tables), ...quiet });
    await Promise.all([a.rotate(), b.rotate(), a.rotate(), b.rotate()]);
    const rows = await get().db.selectFrom('security_key_versions').select(['version', 'wrapped_key']).where('key_id', '=', keyId).execute();
    const versions = rows.map((r) => Number(r.version));
    expect(new Set(versions).size).toBe(versions.length);
    await a.refresh();
    await b.refresh();
    expect(a.currentKey()).toEqual(b.currentKey());
    // Each instance decrypts the other's newest envelopes.
    const ea = createEncryptor({ keyProvider: a, ...quiet });
    const eb = createEncryptor({ keyProvider: b, ...quiet });
    expect(await eb.decryptToString(await ea.encrypt('a→b'))).toBe('a→b');
    expect(await ea.decryptToString(await eb.encrypt('b→a'))).toBe('b→a');
  });

  it('an instance that meets an envelope of a version it has not loaded fetches it', async () => {
    const rootKey = randomBytes(32);
    const keyId = `fetch-${randomBytes(3).toString('hex')}`;
    const reader = await createLocalKeyProvider({ rootKey, keyId, keyring: createKyselyKeyringStore(get().db, tables), ...quiet });
    const writer = await createLocalKeyProvider({ rootKey, keyId, keyring: createKyselyKeyringStore(get().db, tables), ...quiet });
    await writer.rotate();
    await writer.rotate();
    const envelope = await createEncryptor({ keyProvider: writer, ...quiet }).encrypt('v3');
    expect(envelope.keyVersion).toBe(3);
    expect(reader.currentKey().keyVersion).toBe(1);
    expect(await createEncryptor({ keyProvider: reader, ...quiet }).decryptToString(envelope)).toBe('v3');
  });

  it('stores only wrapped keys: no row holds key bytes a reader could use without the root', async () => {
    const rootKey = randomBytes(32);
    const keyId = `wrapped-${randomBytes(3).toString('hex')}`;
    await createLocalKeyProvider({ rootKey, keyId, keyring: createKyselyKeyringStore(get().db, tables), ...quiet });
    const rows = await get().db.selectFrom('security_key_versions').selectAll().where('key_id', '=', keyId).execute();
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0]!.wrapped_key, 'base64url').length).toBe(60);
    expect(JSON.stringify(rows)).not.toContain(rootKey.toString('hex'));
  });
});
