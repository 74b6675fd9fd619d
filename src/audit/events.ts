import type { Severity } from '../storage/schema.js';

/**
 * The security event vocabulary, after the OWASP Logging Vocabulary: `<area>_<subject>_<verb>`.
 * `authn_*` authentication, `authz_*` authorisation, `crypto_*` cryptographic operations,
 * `authn_token_*` API-key lifecycle (an API key is a bearer token), `sys_*` the library itself.
 */
export const AUDIT_EVENT_TYPES = [
  // Authentication
  'authn_login_success',
  'authn_login_fail',
  'authn_api_key_success',
  'authn_api_key_fail',
  // API-key lifecycle
  'authn_token_created',
  'authn_token_updated',
  'authn_token_revoked',
  'authn_token_rotated',
  'authn_token_read',
  'authn_token_listed',
  'authn_token_revealed',
  // Authorisation
  'authz_grant',
  'authz_fail',
  'authz_escalation_denied',
  // Cryptography and keys
  'crypto_encrypt_fail',
  'crypto_decrypt_fail',
  'crypto_data_key_generated',
  'crypto_data_key_decrypted',
  'crypto_data_key_fail',
  'crypto_key_version_created',
  // The library itself
  'sys_insecure_key',
  'sys_audit_write_fail',
  'sys_audit_events_dropped',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export type { Severity } from '../storage/schema.js';

/** Who did it. */
export interface AuditActor {
  readonly type: 'user' | 'api_key' | 'system';
  readonly id?: string;
}

/**
 * One security event as the library and hosts record it. Only names, ids, codes and counts go in:
 * never a key value, a data key or a plaintext. `metadata` values are checked and capped.
 */
export interface AuditEventInput {
  readonly type: AuditEventType | (string & {});
  readonly severity: Severity;
  readonly outcome?: 'success' | 'failure' | 'unknown';
  readonly actor?: AuditActor;
  readonly sourceIp?: string;
  readonly resource?: string;
  readonly action?: string;
  readonly requestId?: string;
  readonly metadata?: Readonly<Record<string, string | number | boolean | null>>;
  /** Epoch milliseconds; the writer's clock when absent. */
  readonly occurredAt?: number;
}

/** Where security events go: the batched database writer, or anything with the same shape. */
export interface AuditSink {
  /** Queues one event; never throws and never waits on the database. */
  record(event: AuditEventInput): void;
}

/** A sink that discards everything, for components used without an audit log. */
export const nullAuditSink: AuditSink = { record: () => {} };

/** Ranks severities so thresholds can compare them. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { info: 0, warning: 1, error: 2, critical: 3 };
