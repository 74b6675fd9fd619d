import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect } from 'kysely';
import { SecurityError } from '../core/errors.js';
import type { DialectName } from './dialect.js';
import type { SecurityDatabase } from './schema.js';

/** A database the library opened from a URL; `destroy()` closes its pool. */
export interface OpenedDatabase {
  readonly db: Kysely<SecurityDatabase>;
  readonly dialect: DialectName;
  destroy(): Promise<void>;
}

/** Pool and file options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Connections in the pool (PostgreSQL, MySQL). @default 10 */
  readonly poolSize?: number;
}

/**
 * Opens a database from a URL. The driver is the host's optional peer dependency, loaded only
 * for the scheme in use:
 * - `sqlite:./path/to/file.db`, `sqlite:///absolute/path.db` or `sqlite::memory:` (better-sqlite3;
 *   files are put in WAL mode with `synchronous = FULL` and a 5 s busy timeout),
 * - `postgres://user@host:5432/db` or `postgresql://…` (pg),
 * - `mysql://user:pass@host:3306/db` or `mariadb://…` (mysql2).
 *
 * @example
 * const { db, destroy } = await openDatabase('sqlite:./data/security.db')
 *
 * @throws ERR_INVALID_OPTIONS for an unknown scheme or a driver that is not installed
 */
export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<OpenedDatabase> {
  if (typeof url !== 'string' || url.length === 0) {
    throw new SecurityError('ERR_INVALID_OPTIONS', 'invalid options for openDatabase: the database URL must be a non-empty string');
  }
  const poolSize = options.poolSize ?? 10;
  const scheme = url.slice(0, url.indexOf(':') + 1).toLowerCase();
  if (scheme === 'sqlite:') {
    const Database = await loadDriver<new (path: string) => SqliteHandle>('better-sqlite3');
    const path = sqlitePath(url);
    const handle = new Database(path);
    if (path !== ':memory:') {
      handle.pragma('journal_mode = WAL');
      // WAL's usual NORMAL mode can lose the last commits on power loss or an OS crash. A key
      // version lost that way leaves data written under it unreadable, and a lost audit row is a
      // gap in the trail, so every commit is synced. The audit writer commits in batches, so this
      // costs it little; hosts that pass their own Kysely keep their own setting.
      handle.pragma('synchronous = FULL');
    }
    handle.pragma('busy_timeout = 5000');
    const db = new Kysely<SecurityDatabase>({ dialect: new SqliteDialect({ database: handle as never }) });
    return { db, dialect: 'sqlite', destroy: () => db.destroy() };
  }
  if (scheme === 'postgres:' || scheme === 'postgresql:') {
    const pg = await loadDriver<{ Pool: new (config: object) => unknown }>('pg');
    const db = new Kysely<SecurityDatabase>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: poolSize }) as never }),
    });
    return { db, dialect: 'postgres', destroy: () => db.destroy() };
  }
  if (scheme === 'mysql:' || scheme === 'mariadb:') {
    const mysql = await loadDriver<{ createPool: (config: object) => unknown }>('mysql2');
    const uri = scheme === 'mariadb:' ? `mysql:${url.slice(scheme.length)}` : url;
    const db = new Kysely<SecurityDatabase>({
      dialect: new MysqlDialect({ pool: mysql.createPool({ uri, connectionLimit: poolSize }) as never }),
    });
    return { db, dialect: 'mysql', destroy: () => db.destroy() };
  }
  throw new SecurityError('ERR_INVALID_OPTIONS', 'invalid options for openDatabase: the URL scheme must be sqlite:, postgres:, postgresql:, mysql: or mariadb:', {
    details: { scheme: scheme.slice(0, 16) },
  });
}

/** The few members of a better-sqlite3 handle used here (its types stay out of this package's). */
interface SqliteHandle {
  pragma(source: string): unknown;
}

function sqlitePath(url: string): string {
  const rest = url.slice('sqlite:'.length);
  if (rest === ':memory:' || rest === '') return ':memory:';
  return rest.startsWith('//') ? rest.slice(2) : rest;
}

async function loadDriver<T>(name: string): Promise<T> {
  try {
    const mod = (await import(name)) as { default?: T } & T;
    return (mod.default ?? mod) as T;
  } catch (error) {
    throw new SecurityError('ERR_INVALID_OPTIONS', `invalid options for openDatabase: the "${name}" driver is not installed (npm install ${name})`, {
      cause: error,
    });
  }
}
