import type { ColumnType, Generated } from 'kysely';

/**
 * The library's tables as Kysely sees them. Column names are snake_case on every database.
 *
 * Timestamps are epoch milliseconds (UTC) in BIGINT columns: the same type, comparison and index
 * on SQLite, PostgreSQL and MySQL/MariaDB, with no time-zone conversion in any driver. PostgreSQL
 * returns BIGINT as a string, so readers convert with `Number()` (exact up to the year 287396).
 */

/** A BIGINT epoch-milliseconds column: written as a number, read as number or string. */
export type Millis = ColumnType<number | string, number, number>;
export type NullableMillis = ColumnType<number | string | null, number | null, number | null>;

/** The spec's rotation states of an API key. */
export type RotationStatus = 'active' | 'pending_rotation' | 'rotated';

export interface ApiKeysTable {
  id: string;
  user_id: string;
  service: string;
  key_name: string;
  label: string | null;
  /** admin, manager, user, readonly, or a host-defined role. */
  role: string;
  /** JSON: `{ resource: [action, …] }` overriding the role's actions per resource; null for none. */
  permissions: string | null;
  /** The first characters of the key, safe to show (`afk_3xT9…`). */
  key_prefix: string;
  /** HMAC-SHA256 of the key under the lookup key, hex; unique: verifying is one indexed lookup. */
  lookup_hash: string;
  /** The envelope of the value without its tag (base64url), for recoverable keys; null when hash-only. */
  encrypted_value: string | null;
  /** The GCM tag of that envelope (base64url) — the spec's `authTag`. */
  auth_tag: string | null;
  /** The key version of that envelope — the spec's `keyVersion`; lets SQL find rows to rewrap. */
  key_version: number | null;
  rotation_status: RotationStatus;
  rotated_at: NullableMillis;
  /** The key this one replaced — the spec's `previousKeyId`. */
  previous_key_id: string | null;
  /** After rotation, the old key keeps working until this time. */
  grace_expires_at: NullableMillis;
  expires_at: NullableMillis;
  last_used_at: NullableMillis;
  revoked_at: NullableMillis;
  revoked_reason: string | null;
  created_by: string | null;
  created_at: Millis;
  updated_at: Millis;
}

export type Severity = 'info' | 'warning' | 'error' | 'critical';

export interface SecurityAuditLogsTable {
  id: Generated<number>;
  occurred_at: Millis;
  event_type: string;
  severity: Severity;
  outcome: 'success' | 'failure' | 'unknown';
  actor_type: 'user' | 'api_key' | 'system';
  actor_id: string | null;
  source_ip: string | null;
  resource: string | null;
  action: string | null;
  request_id: string | null;
  /** JSON object of safe, non-secret facts. */
  metadata: string | null;
}

/** The keyring: key-encryption key versions, wrapped by a root key. Never deleted. */
export interface SecurityKeyVersionsTable {
  key_id: string;
  version: number;
  wrapped_key: string;
  root_fingerprint: string;
  created_at: Millis;
}

/** Long-lived library secrets (for instance the API-key lookup key), each stored as an envelope. */
export interface SecuritySecretsTable {
  name: string;
  envelope: string;
  created_at: Millis;
}

/** Raised alerts: one row per alert type, subject and window, whatever the number of instances. */
export interface SecurityAlertsTable {
  id: Generated<number>;
  alert_type: string;
  subject: string;
  window_start: Millis;
  severity: Severity;
  event_count: number;
  threshold: number;
  raised_at: Millis;
  details: string | null;
}

/** Job leases, so a scheduled job runs on one instance at a time. */
export interface SecurityJobLeasesTable {
  name: string;
  holder: string;
  expires_at: Millis;
  acquired_at: Millis;
}

/** The database as the library's code names it; the physical names may differ (see table-names.ts). */
export interface SecurityDatabase {
  api_keys: ApiKeysTable;
  security_audit_logs: SecurityAuditLogsTable;
  security_key_versions: SecurityKeyVersionsTable;
  security_secrets: SecuritySecretsTable;
  security_alerts: SecurityAlertsTable;
  security_job_leases: SecurityJobLeasesTable;
}

/** Reads a BIGINT millisecond column from any driver. */
export function toMillis(value: number | string): number;
export function toMillis(value: number | string | null): number | null;
export function toMillis(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}
