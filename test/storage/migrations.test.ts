import { expect, it } from 'vitest';
import { sql } from 'kysely';
import { describeEachDatabase } from '../helpers/databases.js';
import { migrateSecurityDatabase, dropSecurityTables } from '../../src/storage/migrations.js';
import { resolveTableNames, DEFAULT_TABLE_NAMES } from '../../src/storage/table-names.js';
import { isUniqueViolation } from '../../src/storage/dialect.js';

describeEachDatabase('migrations', (get) => {
  it('creates every table under the default names, with the library’s own migration table', async () => {
    const { db } = get();
    const tables = resolveTableNames();
    const { error, results } = await migrateSecurityDatabase(db, tables);
    expect(error).toBeUndefined();
    expect(results?.map((r) => r.status)).toEqual(['Success']);
    const names = (await db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name);
    for (const name of Object.values(DEFAULT_TABLE_NAMES)) expect(names).toContain(name);
    expect(names).not.toContain('kysely_migration');
    const apiKeys = (await db.introspection.getTables()).find((t) => t.name === 'api_keys')!;
    const columns = apiKeys.columns.map((c) => c.name);
    for (const c of ['auth_tag', 'key_version', 'permissions', 'role', 'rotated_at', 'rotation_status', 'previous_key_id']) {
      expect(columns).toContain(c);
    }
  });

  it('running again is a no-op, and many instances migrating at once apply each migration once', async () => {
    const { db, openAnother } = get();
    const tables = resolveTableNames();
    const others = await Promise.all([openAnother(), openAnother()]);
    const outcomes = await Promise.all([db, ...others.map((o) => o.db)].map((d) => migrateSecurityDatabase(d, tables)));
    for (const o of outcomes) {
      expect(o.error).toBeUndefined();
      expect(o.results).toEqual([]);
    }
  });

  it('uses the host’s table names when it renames them, beside the defaults', async () => {
    const { db } = get();
    const tables = resolveTableNames({ apiKeys: 'tenant_api_keys', auditLogs: 'tenant_audit', migrations: 'tenant_sec_migrations', migrationsLock: 'tenant_sec_lock', keyVersions: 'tenant_kv', secrets: 'tenant_secrets', alerts: 'tenant_alerts', jobLeases: 'tenant_leases' });
    const { error } = await migrateSecurityDatabase(db, tables);
    expect(error).toBeUndefined();
    const names = (await db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['tenant_api_keys', 'tenant_audit', 'tenant_sec_migrations', 'api_keys']));
    await dropSecurityTables(db, tables);
    const after = (await db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name);
    expect(after).not.toContain('tenant_api_keys');
    expect(after).toContain('api_keys');
  });

  it('a duplicate key is recognised as a unique violation on this dialect', async () => {
    const { db } = get();
    const row = { name: 'dup', envelope: 'x', created_at: 1 };
    await db.insertInto('security_secrets').values(row).execute();
    const error = await db.insertInto('security_secrets').values(row).execute().then(() => undefined, (e: unknown) => e);
    expect(isUniqueViolation(error)).toBe(true);
    expect(isUniqueViolation(new Error('other'))).toBe(false);
    await sql`delete from security_secrets`.execute(db);
  });

  it('stores epoch milliseconds beyond 32 bits and reads them back exactly', async () => {
    const { db } = get();
    const at = Date.UTC(2099, 0, 1, 0, 0, 0, 123);
    await db.insertInto('security_secrets').values({ name: 'time', envelope: 'x', created_at: at }).execute();
    const row = await db.selectFrom('security_secrets').select('created_at').where('name', '=', 'time').executeTakeFirstOrThrow();
    expect(Number(row.created_at)).toBe(at);
  });
});

it('refuses table names that are not plain identifiers or that collide', () => {
  for (const bad of [{ apiKeys: 'Robert"); drop table x;--' }, { apiKeys: '' }, { auditLogs: 'a'.repeat(41) }, { apiKeys: 'x', auditLogs: 'x' }, { nope: 'x' }]) {
    expect(() => resolveTableNames(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
  }
});
