import { MysqlAdapter, PostgresAdapter, SqliteAdapter, type Kysely } from 'kysely';

/** The three SQL dialects the library is tested on. */
export type DialectName = 'sqlite' | 'postgres' | 'mysql';

/** Which dialect a host's Kysely instance speaks, read from its adapter. */
export function dialectOf(db: Kysely<any>): DialectName {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof MysqlAdapter) return 'mysql';
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  // Adapters from another copy of kysely fail instanceof; fall back to the class name.
  const name = adapter.constructor.name.toLowerCase();
  if (name.includes('postgres')) return 'postgres';
  if (name.includes('mysql')) return 'mysql';
  return 'sqlite';
}

/**
 * True when a database error is a unique or primary-key violation: PostgreSQL SQLSTATE 23505,
 * MySQL/MariaDB ER_DUP_ENTRY (1062), SQLite SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY.
 */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; errno?: unknown };
  return (
    e.code === '23505' ||
    e.code === 'ER_DUP_ENTRY' ||
    e.errno === 1062 ||
    e.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}
