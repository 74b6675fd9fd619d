import type { AuditSink } from './audit/events.js';
import type { SecurityConfig } from './config/env.js';
import type { EncryptionOperationEvent } from './crypto/encryptor.js';
import type { KeyOperationEvent, KeyOperationHook } from './keys/key-provider.js';
import type { PermissionDecision, PermissionStats } from './permissions/decision.js';
import type { Principal } from './permissions/principal.js';

/**
 * How the parts' hooks become audit events. Only names, codes, versions and counts are written:
 * the hooks never carry key bytes or plaintext, and nothing here adds any.
 */

/**
 * The critical event for an insecure root key: `sys_insecure_key`, critical in production (the
 * spec's example of a critical event), a warning elsewhere.
 */
export function auditRootKeyStatus(audit: AuditSink, config: SecurityConfig): void {
  if (config.encryptionKeyStatus === 'ok') return;
  audit.record({
    type: 'sys_insecure_key',
    severity: config.production ? 'critical' : 'warning',
    outcome: 'unknown',
    actor: { type: 'system' },
    resource: 'encryption_key',
    metadata: { status: config.encryptionKeyStatus, issue: config.encryptionKeyIssue ?? null, nodeEnv: config.nodeEnv },
  });
}

const KEY_EVENT_TYPES = {
  generate_data_key: 'crypto_data_key_generated',
  decrypt_data_key: 'crypto_data_key_decrypted',
  create_key_version: 'crypto_key_version_created',
} as const;

/**
 * Key operations: each data-key generate and unwrap (rare, thanks to the data-key cache) and each
 * new key version is an info event; every failure is an error event.
 */
export function auditKeyOperation(audit: AuditSink): KeyOperationHook {
  return (event: KeyOperationEvent) => {
    const failed = event.outcome === 'failure';
    audit.record({
      type: failed ? 'crypto_data_key_fail' : KEY_EVENT_TYPES[event.operation],
      severity: failed ? 'error' : 'info',
      outcome: event.outcome,
      actor: { type: 'system' },
      resource: 'key',
      action: event.operation,
      metadata: {
        provider: event.provider,
        keyId: event.keyId,
        keyVersion: event.keyVersion,
        durationMs: Math.round(event.durationMs * 1000) / 1000,
        ...(event.errorCode === undefined ? {} : { errorCode: event.errorCode }),
      },
    });
  };
}

/**
 * Encryption and decryption: each failure is an error event (`crypto_encrypt_fail`,
 * `crypto_decrypt_fail`), which the monitoring thresholds count. Successes are not one row each:
 * with cached data keys they are as frequent as the host's reads and writes, and the key
 * operations above already record which key versions are in use.
 */
export function auditCryptoOperation(audit: AuditSink): (event: EncryptionOperationEvent) => void {
  return (event) => {
    if (event.outcome === 'success') return;
    audit.record({
      type: event.operation === 'encrypt' ? 'crypto_encrypt_fail' : 'crypto_decrypt_fail',
      severity: 'error',
      outcome: 'failure',
      actor: { type: 'system' },
      resource: 'data',
      action: event.operation,
      metadata: {
        provider: event.provider,
        keyVersion: event.keyVersion ?? null,
        errorCode: event.errorCode ?? null,
      },
    });
  };
}

/** Permission denials (warning) and unknown names, each as it happens; sampled grants (info) if configured. */
export function auditPermissionDecision(audit: AuditSink): (decision: PermissionDecision, principal: Principal) => void {
  return (decision, principal) => {
    audit.record({
      type: decision.allowed ? 'authz_grant' : 'authz_fail',
      severity: decision.allowed ? 'info' : 'warning',
      outcome: decision.allowed ? 'success' : 'failure',
      actor: { type: actorType(principal), ...(principal.id === undefined ? {} : { id: principal.id }) },
      resource: decision.resource,
      action: decision.action,
      metadata: { reason: decision.reason, role: decision.role },
    });
  };
}

/** One `authz_grant` event per resource and action granted since the previous summary, with the count. */
export function auditPermissionSummary(audit: AuditSink, stats: PermissionStats): void {
  for (const count of stats.counts) {
    if (count.grants === 0) continue;
    audit.record({
      type: 'authz_grant',
      severity: 'info',
      outcome: 'success',
      actor: { type: 'system' },
      resource: count.resource,
      action: count.action,
      metadata: { summary: true, grants: count.grants, denials: count.denials, sinceMs: stats.sinceMs, untilMs: stats.untilMs },
    });
  }
}

/** The principal's own kind when it says (`ApiKeyPrincipal.type`), else an API key, the usual case. */
function actorType(principal: Principal): 'user' | 'api_key' | 'system' {
  const type = (principal as { type?: unknown }).type;
  return type === 'user' || type === 'system' ? type : 'api_key';
}
