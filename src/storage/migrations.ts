import { Migrator, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import { dialectOf, type DialectName } from './dialect.js';
import type { TableNames } from './table-names.js';

/**
 * The library's migrations, written against the physical table names. Each migration is frozen
 * once released: a schema change is a new migration, never an edit.
 */
export function securityMigrations(tables: TableNames): Record<string, Migration> {
  return {
    '2026_12_01_0001_initial': {
      async up(db: Kysely<any>) {
        const dialect = dialectOf(db);
        const ms = 'bigint';

        await db.schema
          .createTable(tables.apiKeys)
          .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
          .addColumn('service', 'varchar(255)', (c) => c.notNull())
          .addColumn('key_name', 'varchar(255)', (c) => c.notNull())
          .addColumn('label', 'varchar(255)')
          .addColumn('role', 'varchar(64)', (c) => c.notNull())
          .addColumn('permissions', 'text')
          .addColumn('key_prefix', 'varchar(32)', (c) => c.notNull())
          .addColumn('lookup_hash', 'varchar(64)', (c) => c.notNull())
          .addColumn('encrypted_value', 'text')
          .addColumn('auth_tag', 'varchar(32)')
          .addColumn('key_version', 'integer')
          .addColumn('rotation_status', 'varchar(32)', (c) => c.notNull().defaultTo('active'))
          .addColumn('rotated_at', ms)
          .addColumn('previous_key_id', 'varchar(64)')
          .addColumn('grace_expires_at', ms)
          .addColumn('expires_at', ms)
          .addColumn('last_used_at', ms)
          .addColumn('revoked_at', ms)
          .addColumn('revoked_reason', 'varchar(255)')
          .addColumn('created_by', 'varchar(255)')
          .addColumn('created_at', ms, (c) => c.notNull())
          .addColumn('updated_at', ms, (c) => c.notNull())
          .execute();
        await db.schema.createIndex(`${tables.apiKeys}_lookup_hash_uq`).unique().on(tables.apiKeys).column('lookup_hash').execute();
        await db.schema.createIndex(`${tables.apiKeys}_user_service_ix`).on(tables.apiKeys).columns(['user_id', 'service']).execute();
        await db.schema.createIndex(`${tables.apiKeys}_status_ix`).on(tables.apiKeys).columns(['rotation_status', 'created_at']).execute();
        await db.schema.createIndex(`${tables.apiKeys}_key_version_ix`).on(tables.apiKeys).column('key_version').execute();

        await autoIncrementTable(db, dialect, tables.auditLogs)
          .addColumn('occurred_at', ms, (c) => c.notNull())
          .addColumn('event_type', 'varchar(64)', (c) => c.notNull())
          .addColumn('severity', 'varchar(16)', (c) => c.notNull())
          .addColumn('outcome', 'varchar(16)', (c) => c.notNull())
          .addColumn('actor_type', 'varchar(16)', (c) => c.notNull())
          .addColumn('actor_id', 'varchar(255)')
          .addColumn('source_ip', 'varchar(64)')
          .addColumn('resource', 'varchar(128)')
          .addColumn('action', 'varchar(64)')
          .addColumn('request_id', 'varchar(128)')
          .addColumn('metadata', 'text')
          .execute();
        // The query API and the monitoring window scans: each filter is a prefix, time last.
        for (const [suffix, columns] of [
          ['time_ix', ['occurred_at']],
          ['type_time_ix', ['event_type', 'occurred_at']],
          ['severity_time_ix', ['severity', 'occurred_at']],
          ['actor_time_ix', ['actor_id', 'occurred_at']],
          ['ip_time_ix', ['source_ip', 'occurred_at']],
        ] as const) {
          await db.schema.createIndex(`${tables.auditLogs}_${suffix}`).on(tables.auditLogs).columns([...columns]).execute();
        }

        await db.schema
          .createTable(tables.keyVersions)
          .addColumn('key_id', 'varchar(255)', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('wrapped_key', 'varchar(255)', (c) => c.notNull())
          .addColumn('root_fingerprint', 'varchar(64)', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addPrimaryKeyConstraint(`${tables.keyVersions}_pk`, ['key_id', 'version'])
          .execute();

        await db.schema
          .createTable(tables.secrets)
          .addColumn('name', 'varchar(128)', (c) => c.primaryKey())
          .addColumn('envelope', 'text', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .execute();

        await autoIncrementTable(db, dialect, tables.alerts)
          .addColumn('alert_type', 'varchar(64)', (c) => c.notNull())
          .addColumn('subject', 'varchar(255)', (c) => c.notNull())
          .addColumn('window_start', ms, (c) => c.notNull())
          .addColumn('severity', 'varchar(16)', (c) => c.notNull())
          .addColumn('event_count', 'integer', (c) => c.notNull())
          .addColumn('threshold', 'integer', (c) => c.notNull())
          .addColumn('raised_at', ms, (c) => c.notNull())
          .addColumn('details', 'text')
          .execute();
        await db.schema
          .createIndex(`${tables.alerts}_once_uq`)
          .unique()
          .on(tables.alerts)
          .columns(['alert_type', 'subject', 'window_start'])
          .execute();
        await db.schema.createIndex(`${tables.alerts}_raised_ix`).on(tables.alerts).column('raised_at').execute();

        await db.schema
          .createTable(tables.jobLeases)
          .addColumn('name', 'varchar(128)', (c) => c.primaryKey())
          .addColumn('holder', 'varchar(255)', (c) => c.notNull())
          .addColumn('expires_at', ms, (c) => c.notNull())
          .addColumn('acquired_at', ms, (c) => c.notNull())
          .execute();
      },
      async down(db: Kysely<any>) {
        for (const table of [tables.jobLeases, tables.alerts, tables.secrets, tables.keyVersions, tables.auditLogs, tables.apiKeys]) {
          await db.schema.dropTable(table).ifExists().execute();
        }
      },
    },
  };
}

function autoIncrementTable(db: Kysely<any>, dialect: DialectName, name: string) {
  const table = db.schema.createTable(name);
  if (dialect === 'postgres') return table.addColumn('id', 'bigserial', (c) => c.primaryKey());
  if (dialect === 'mysql') return table.addColumn('id', 'bigint', (c) => c.primaryKey().autoIncrement());
  return table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/**
 * Brings the library's tables to the latest version, under its own migration table, with Kysely's
 * lock so one instance migrates while the others wait. Reports instead of throwing, as Kysely's
 * `Migrator` does: check `error`.
 *
 * @example
 * const { error } = await migrateSecurityDatabase(db)
 * if (error) throw error
 */
export async function migrateSecurityDatabase(db: Kysely<any>, tables: TableNames): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => securityMigrations(tables) },
    migrationTableName: tables.migrations,
    migrationLockTableName: tables.migrationsLock,
  });
  return migrator.migrateToLatest();
}

/** Drops the library's tables and its migration bookkeeping. For tests and uninstalling. */
export async function dropSecurityTables(db: Kysely<any>, tables: TableNames): Promise<void> {
  await securityMigrations(tables)['2026_12_01_0001_initial']!.down!(db);
  await db.schema.dropTable(tables.migrations).ifExists().execute();
  await db.schema.dropTable(tables.migrationsLock).ifExists().execute();
}
