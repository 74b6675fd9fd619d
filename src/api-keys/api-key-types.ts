import type { ApiKeyPermissions, ApiKeyRecord, ApiKeyStatus } from './api-key-records.js';

/**
 * Who performs an operation: a user, an API key (an `ApiKeyRecord` has the right shape) or the
 * system. Its role and permissions go to the escalation check; its type and id to the audit row
 * and `created_by`.
 *
 * @example
 * await apiKeys.issueApiKey(userId, 'agentflow', 'ci', { actor: { id: 'u-7', role: 'manager' } })
 * await apiKeys.issueApiKey(userId, 'agentflow', 'ci', { actor: { ...verifiedKey, type: 'api_key' } })
 */
export interface ApiKeyPrincipal {
  readonly role: string;
  readonly permissions?: ApiKeyPermissions | null;
  readonly id?: string;
  /** @default 'user' */
  readonly type?: 'user' | 'api_key' | 'system';
}

/** What a key is about to hold (or holds now), as passed to `assertCanGrant` (the shape of the evaluator's `GrantTarget`). */
export interface ApiKeyGrantTarget {
  readonly role: string;
  readonly permissions: ApiKeyPermissions | null;
}

/** Options every audited operation takes. */
export interface OperationOptions {
  /** Who does it; with `assertCanGrant` configured, checked for privilege escalation. */
  readonly actor?: ApiKeyPrincipal;
  /** For the audit row. At most 64 characters. */
  readonly sourceIp?: string;
  /** For the audit row. At most 128 characters. */
  readonly requestId?: string;
}

/** Options of `addApiKey` (the spec's fifth argument) and `issueApiKey`. */
export interface ApiKeyGrantOptions extends OperationOptions {
  /** At most 255 characters. */
  readonly label?: string | null;
  /** One of the service's roles. @default 'user' */
  readonly role?: string;
  /** Custom permissions overriding the role's actions per resource. @default null */
  readonly permissions?: ApiKeyPermissions | null;
  /** Epoch milliseconds or a Date, in the future. @default null (never expires) */
  readonly expiresAt?: number | Date | null;
}

/** Options of `issueApiKey`. */
export interface IssueApiKeyOptions extends ApiKeyGrantOptions {
  /** Also store the key as an envelope so `revealApiKey` can read it back. @default false */
  readonly recoverable?: boolean;
}

/** The fields `updateApiKey` can change; at least one. */
export interface ApiKeyPatch {
  readonly label?: string | null;
  readonly role?: string;
  readonly permissions?: ApiKeyPermissions | null;
  readonly expiresAt?: number | Date | null;
}

/** Options of `revokeApiKey` and `revealApiKey`. */
export interface ReasonOptions extends OperationOptions {
  /** Why; stored as `revoked_reason` on revoke, recorded in the audit row. At most 255 characters. */
  readonly reason?: string;
}

/** Options of `rotateApiKey`. */
export interface RotateApiKeyOptions extends OperationOptions {
  /** How long the old key keeps working. @default the service's `rotationGracePeriodMs` */
  readonly gracePeriodMs?: number;
  /** Store the successor recoverably. @default whether the old key was recoverable */
  readonly recoverable?: boolean;
}

/** Filters of `listApiKeys`, newest first. */
export interface ApiKeyQuery {
  readonly userId?: string;
  readonly service?: string;
  readonly role?: string;
  readonly status?: ApiKeyStatus;
  /** 1 to 500. @default 50 */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** A page of `listApiKeys`. */
export interface ApiKeyPage {
  readonly items: readonly ApiKeyRecord[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/** Options of `verifyApiKey`, for the audit row only. */
export interface VerifyOptions {
  readonly ip?: string;
  readonly requestId?: string;
}

/**
 * Why a presented key was refused. For the caller's logs and metrics only: an HTTP adapter answers
 * 401 with one body for every reason, so a client cannot tell an unknown key from a revoked one.
 *
 * @example
 * if (!result.ok) metrics.increment(`api_key_refused.${result.reason}`)
 */
export type VerifyFailureReason = 'malformed' | 'unknown' | 'revoked' | 'expired' | 'rotated';

/**
 * The outcome of `verifyApiKey`: the key's record, or only the reason (no id, no hint for a client).
 *
 * @example
 * const result = await apiKeys.verifyApiKey(presented, { ip })
 * if (!result.ok) return reply.code(401).send({ error: 'unauthorized' })
 * req.auth = result.key
 */
export type VerifyResult =
  | { readonly ok: true; readonly key: ApiKeyRecord }
  | { readonly ok: false; readonly reason: VerifyFailureReason };

/** A key the library generated: the plaintext, shown this once, and its record. */
export interface IssuedApiKey {
  readonly key: string;
  readonly record: ApiKeyRecord;
}

/** The result of `rotateApiKey`: the successor (shown once) and the old key as now stored. */
export interface RotatedApiKey extends IssuedApiKey {
  readonly previous: ApiKeyRecord;
}
