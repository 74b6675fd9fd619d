import { createHmac, randomUUID, type KeyObject } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { SecurityError, isSecurityError } from '../core/errors.js';
import type { Encryptor } from '../crypto/encryptor.js';
import type { TableNames } from '../storage/table-names.js';
import type { AuditedRun } from './api-key-audit.js';
import { permissionsToJson, splitEnvelope, valueContext, type ApiKeyPermissions, type ApiKeyRow } from './api-key-records.js';
import { ownerSchema, parseInput, parsePermissionsShape } from './api-key-schemas.js';
import type { ApiKeyStore } from './api-key-store.js';
import type { ApiKeyPrincipal, ApiKeyGrantTarget } from './api-key-types.js';
import { displayPrefix } from './key-format.js';
import type { VerifyCache } from './verify-cache.js';

/**
 * The permission evaluator's escalation check, with its signature: `next` is what the key would
 * hold after create, issue, update or rotate; `previous`, on update and rotate, what it holds now.
 * Reveal and revoke pass what the key holds now as both: the actor must hold at least as much.
 * @example const assertCanGrant: AssertCanGrant = (actor, next, previous) => evaluator.assertCanGrant(actor, next, previous)
 */
export type AssertCanGrant = (actor: ApiKeyPrincipal, next: ApiKeyGrantTarget, previous?: ApiKeyGrantTarget) => void;

/** What the service's operations share. Internal. */
export interface ServiceContext {
  readonly store: ApiKeyStore;
  readonly tables: TableNames;
  readonly encryptor: Encryptor;
  readonly lookupKey: KeyObject;
  readonly roles: ReadonlySet<string>;
  readonly validatePermissions: (permissions: ApiKeyPermissions, role: string) => void;
  readonly assertCanGrant: AssertCanGrant | undefined;
  readonly keyPrefix: string;
  readonly cache: VerifyCache | undefined;
  readonly rotationGracePeriodMs: number;
  readonly clock: Clock;
  readonly run: AuditedRun;
}

/** The owner columns of a key. */
export interface Owner {
  readonly userId: string;
  readonly service: string;
  readonly keyName: string;
}

/** A validated grant: what a new key will hold. */
export interface Grant {
  readonly label: string | null;
  readonly role: string;
  readonly permissions: ApiKeyPermissions | null;
  readonly expiresAt: number | null;
}

/**
 * Validates the three owner arguments: 1 to 255 characters, well-formed, no control characters.
 * @example parseOwner(userId, 'openai', 'default', 'addApiKey')
 * @throws ERR_INVALID_INPUT
 */
export function parseOwner(userId: unknown, service: unknown, keyName: unknown, where: string): Owner {
  return {
    userId: parseInput(ownerSchema, userId, `${where} userId`),
    service: parseInput(ownerSchema, service, `${where} service`),
    keyName: parseInput(ownerSchema, keyName, `${where} keyName`),
  };
}

/**
 * Checks a role against the service's roles.
 * @example checkRole(ctx, 'manager') // 'manager'
 * @throws ERR_UNKNOWN_ROLE (the message does not echo the role; the details list the known ones)
 */
export function checkRole(ctx: ServiceContext, role: string): string {
  if (!ctx.roles.has(role)) {
    throw new SecurityError('ERR_UNKNOWN_ROLE', 'unknown role', { details: { roles: [...ctx.roles] } });
  }
  return role;
}

/**
 * Checks custom permissions: structure first, then the host's (or the default) rules for the role.
 * @example checkPermissions(ctx, { reports: ['read'] }, 'user', 'addApiKey')
 * @throws ERR_INVALID_PERMISSIONS (or the hook's ERR_UNKNOWN_ROLE)
 */
export function checkPermissions(ctx: ServiceContext, input: unknown, role: string, where: string): ApiKeyPermissions | null {
  const permissions = parsePermissionsShape(input, where);
  if (permissions === null) return null;
  try {
    ctx.validatePermissions(permissions, role);
  } catch (error) {
    if (isSecurityError(error) && (error.code === 'ERR_INVALID_PERMISSIONS' || error.code === 'ERR_UNKNOWN_ROLE')) throw error;
    throw new SecurityError('ERR_INVALID_PERMISSIONS', `invalid input for ${where}: permissions refused`, { cause: error });
  }
  return permissions;
}

/**
 * An expiry must lie in the future; use `revokeApiKey` to end a key now.
 * @example checkExpiry(Date.now() + 86_400_000, Date.now(), 'issueApiKey')
 * @throws ERR_INVALID_INPUT
 */
export function checkExpiry(expiresAt: number | null | undefined, now: number, where: string): number | null {
  if (expiresAt === undefined || expiresAt === null) return null;
  if (expiresAt <= now) {
    throw new SecurityError('ERR_INVALID_INPUT', `invalid input for ${where}: expiresAt: not_in_future`, { details: { where, problems: ['expiresAt: not_in_future'] } });
  }
  return expiresAt;
}

/**
 * Runs the escalation check when an actor is given and a check is configured. Fails closed: a
 * check that throws anything but a library error counts as a refusal.
 * @example checkGrant(ctx, actor, { role: 'user', permissions: null })
 * @throws ERR_PRIVILEGE_ESCALATION (or the check's ERR_UNKNOWN_ROLE / ERR_INVALID_PERMISSIONS / ERR_INVALID_INPUT)
 */
export function checkGrant(ctx: ServiceContext, actor: ApiKeyPrincipal | undefined, next: ApiKeyGrantTarget, previous?: ApiKeyGrantTarget): void {
  if (actor === undefined || ctx.assertCanGrant === undefined) return;
  try {
    if (previous === undefined) ctx.assertCanGrant(actor, next);
    else ctx.assertCanGrant(actor, next, previous);
  } catch (error) {
    if (isSecurityError(error)) throw error;
    throw new SecurityError('ERR_PRIVILEGE_ESCALATION', 'privilege escalation: the grant was refused', { cause: error });
  }
}

/**
 * The caller's actor object itself, once its options passed validation (role a string, id and type
 * well-formed): the escalation check receives it unchanged, so an evaluator can read whatever its
 * principals carry (custom permissions included) rather than a copy that lost some of it.
 * @example const actor = actorOf(options)
 * @throws nothing
 */
export function actorOf(options: unknown): ApiKeyPrincipal | undefined {
  return (options as { actor?: ApiKeyPrincipal } | undefined)?.actor;
}

/**
 * Hex HMAC-SHA256 of a value under the lookup key: the `lookup_hash` column.
 * @example lookupHash(ctx, key) // 64 hex characters
 * @throws nothing
 */
export function lookupHash(ctx: ServiceContext, value: string): string {
  return createHmac('sha256', ctx.lookupKey).update(value).digest('hex');
}

/**
 * A new row id (a random UUID).
 * @example newKeyId() // '1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b'
 * @throws nothing
 */
export function newKeyId(): string {
  return randomUUID();
}

/**
 * The full row of a new key. A recoverable value is encrypted under the row's context (table,
 * column, id, user, service) and split into its columns; a hash-only key stores no envelope.
 * @example const row = await buildRow(ctx, newKeyId(), owner, grant, key, false, now, actor)
 * @throws encryptor and key-provider errors (recoverable values only)
 */
export async function buildRow(
  ctx: ServiceContext,
  id: string,
  owner: Owner,
  grant: Grant,
  value: string,
  recoverable: boolean,
  now: number,
  actor: ApiKeyPrincipal | undefined,
  previousKeyId: string | null = null,
) {
  const envelope = recoverable
    ? splitEnvelope(await ctx.encryptor.encrypt(value, valueContext(ctx.tables.apiKeys, id, owner.userId, owner.service)))
    : null;
  const row = {
    id,
    user_id: owner.userId,
    service: owner.service,
    key_name: owner.keyName,
    label: grant.label,
    role: grant.role,
    permissions: permissionsToJson(grant.permissions),
    key_prefix: displayPrefix(value, ctx.keyPrefix),
    lookup_hash: lookupHash(ctx, value),
    encrypted_value: envelope?.encrypted_value ?? null,
    auth_tag: envelope?.auth_tag ?? null,
    key_version: envelope?.key_version ?? null,
    rotation_status: 'active' as const,
    rotated_at: null,
    previous_key_id: previousKeyId,
    grace_expires_at: null,
    expires_at: grant.expiresAt,
    last_used_at: null,
    revoked_at: null,
    revoked_reason: null,
    created_by: actor?.id ?? null,
    created_at: now,
    updated_at: now,
  };
  return row satisfies ApiKeyRow;
}

/**
 * The error for a key id that is not stored.
 * @example throw notFound()
 * @throws nothing (returns the error)
 */
export function notFound(): SecurityError {
  return new SecurityError('ERR_API_KEY_NOT_FOUND', 'API key not found');
}

/**
 * The `updated_at` of a write to a row last written at `previous`: the clock's time, but always
 * later than `previous`, so every write changes the column (two writes in one millisecond, or a
 * clock behind another instance's, still differ) and a guarded UPDATE that expects `previous`
 * matches only the row it was checked against.
 * @example nextUpdatedAt(clock(), current.updatedAt)
 * @throws nothing
 */
export function nextUpdatedAt(now: number, previous: number): number {
  return Math.max(now, previous + 1);
}

/**
 * What a key holds now, as the escalation check receives it.
 * @example checkGrant(ctx, actor, heldBy(record), heldBy(record))
 * @throws nothing
 */
export function heldBy(record: { readonly role: string; readonly permissions: ApiKeyGrantTarget['permissions'] }): ApiKeyGrantTarget {
  return { role: record.role, permissions: record.permissions };
}

/**
 * The error for a write whose guarded UPDATE found the row changed since it was read and checked.
 * Nothing was written; the caller may read the key again and retry.
 * @example throw concurrentUpdate()
 * @throws nothing (returns the error)
 */
export function concurrentUpdate(): SecurityError {
  return new SecurityError('ERR_API_KEY_INVALID_STATE', 'the API key was changed concurrently', { details: { reason: 'concurrent_update' } });
}

/**
 * The error for an operation the key's state forbids.
 * @example throw invalidState('revoked')
 * @throws nothing (returns the error)
 */
export function invalidState(state: string): SecurityError {
  return new SecurityError('ERR_API_KEY_INVALID_STATE', `the API key is ${state}`, { details: { state } });
}
