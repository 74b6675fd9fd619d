import { z } from 'zod';
import { SecurityError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';

/** Physical table names. Defaults are the spec's (`api_keys`, `security_audit_logs`) and the library's own. */
export interface TableNames {
  /** @default 'api_keys' */
  readonly apiKeys: 'api_keys';
  /** @default 'security_audit_logs' */
  readonly auditLogs: 'security_audit_logs';
  /** @default 'security_key_versions' */
  readonly keyVersions: 'security_key_versions';
  /** @default 'security_secrets' */
  readonly secrets: 'security_secrets';
  /** @default 'security_alerts' */
  readonly alerts: 'security_alerts';
  /** @default 'security_job_leases' */
  readonly jobLeases: 'security_job_leases';
  /** Kysely's migration bookkeeping for this library, apart from the host's. @default 'agentflow_security_migrations' */
  readonly migrations: string;
  /** @default 'agentflow_security_migrations_lock' */
  readonly migrationsLock: string;
}

/** What a host may rename: any subset of the names. */
export type TableNameOptions = Partial<Record<keyof TableNames, string>>;

export const DEFAULT_TABLE_NAMES: TableNames = Object.freeze({
  apiKeys: 'api_keys',
  auditLogs: 'security_audit_logs',
  keyVersions: 'security_key_versions',
  secrets: 'security_secrets',
  alerts: 'security_alerts',
  jobLeases: 'security_job_leases',
  migrations: 'agentflow_security_migrations',
  migrationsLock: 'agentflow_security_migrations_lock',
});

// An identifier every dialect accepts unquoted-looking and MySQL's 64-character limit allows,
// leaving room for the index-name suffixes the migrations add.
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,39}$/);
const schema = z
  .object({
    apiKeys: identifier,
    auditLogs: identifier,
    keyVersions: identifier,
    secrets: identifier,
    alerts: identifier,
    jobLeases: identifier,
    migrations: identifier,
    migrationsLock: identifier,
  })
  .partial()
  .strict();

/**
 * Resolves the host's table names. The result is typed with the default names, so queries stay
 * type-checked, while at run time each holds the physical name.
 *
 * @throws ERR_INVALID_OPTIONS for a name that is not a lower-case identifier of at most 40
 *   characters, or for two tables given the same name
 */
export function resolveTableNames(options: TableNameOptions = {}): TableNames {
  const given = parseOptions(schema, options, 'tables');
  const names = { ...DEFAULT_TABLE_NAMES, ...given } as TableNames;
  const values = Object.values(names);
  if (new Set(values).size !== values.length) {
    throw new SecurityError('ERR_INVALID_OPTIONS', 'invalid options for tables: two tables share one name');
  }
  return Object.freeze(names);
}
