import type { Selectable } from 'kysely';
import { SecurityError, decryptionFailed } from '../core/errors.js';
import { envelopeToBytes, parseEnvelope, type Envelope } from '../crypto/envelope.js';
import type { EncryptionContext } from '../crypto/encryption-context.js';
import { TAG_BYTES } from '../crypto/envelope-v1.js';
import { toMillis, type ApiKeysTable, type RotationStatus } from '../storage/schema.js';

/** Custom permissions: resource → actions, replacing the role's actions on the resources named. */
export type ApiKeyPermissions = Readonly<Record<string, readonly string[]>>;

/**
 * An API key as the library returns it. Never holds the value, its lookup hash or its envelope.
 * Times are epoch milliseconds. Records are frozen: the verify cache hands the same object to
 * every request.
 *
 * @example
 * const { key, record } = await apiKeys.issueApiKey(userId, 'agentflow', 'ci')
 * record.keyPrefix // 'afk_3xT9qLm2', safe to show in a list
 */
export interface ApiKeyRecord {
  readonly id: string;
  readonly userId: string;
  readonly service: string;
  readonly keyName: string;
  readonly label: string | null;
  readonly role: string;
  readonly permissions: ApiKeyPermissions | null;
  /** The shown part of the key (`afk_3xT9qLm2`, or at most 8 characters of a host value). */
  readonly keyPrefix: string;
  /** True when the value is stored as an envelope and `revealApiKey` can read it back. */
  readonly recoverable: boolean;
  /** The key version of the value's envelope (the spec's `keyVersion`); null when hash-only. */
  readonly keyVersion: number | null;
  readonly rotationStatus: RotationStatus;
  readonly rotatedAt: number | null;
  readonly previousKeyId: string | null;
  readonly graceExpiresAt: number | null;
  readonly expiresAt: number | null;
  /** As of the last flush of the last-use tracker (at most `lastUseFlushIntervalMs` behind). */
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
  readonly revokedReason: string | null;
  readonly createdBy: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Where a key stands at a given time; the `status` filter of `listApiKeys`. */
export type ApiKeyStatus = 'active' | 'pending_rotation' | 'rotated' | 'revoked' | 'expired';

/** The row without the envelope body (which only `revealApiKey` reads). */
export type ApiKeyRow = Omit<Selectable<ApiKeysTable>, 'encrypted_value'>;

/** The columns every read selects: everything but the envelope body. */
export const RECORD_COLUMNS = [
  'id', 'user_id', 'service', 'key_name', 'label', 'role', 'permissions', 'key_prefix', 'lookup_hash',
  'auth_tag', 'key_version', 'rotation_status', 'rotated_at', 'previous_key_id', 'grace_expires_at',
  'expires_at', 'last_used_at', 'revoked_at', 'revoked_reason', 'created_by', 'created_at', 'updated_at',
] as const satisfies ReadonlyArray<keyof ApiKeyRow>;

/**
 * Where a key stands at `now`: revoked first, then rotated (in grace or not), then expired.
 *
 * @example
 * apiKeyStatus(record, Date.now()) // 'active'
 *
 * @throws nothing
 */
export function apiKeyStatus(record: ApiKeyRecord, now: number): ApiKeyStatus {
  if (record.revokedAt !== null) return 'revoked';
  if (record.rotationStatus === 'rotated') return 'rotated';
  if (record.expiresAt !== null && record.expiresAt <= now) return 'expired';
  return record.rotationStatus;
}

/**
 * A database row as a frozen record. `permissions` is parsed from its JSON column.
 *
 * @example
 * const record = rowToRecord(row)
 *
 * @throws ERR_STORAGE_FAILURE when the stored permissions are not a JSON object of string arrays
 */
export function rowToRecord(row: ApiKeyRow): ApiKeyRecord {
  return Object.freeze({
    id: row.id,
    userId: row.user_id,
    service: row.service,
    keyName: row.key_name,
    label: row.label,
    role: row.role,
    permissions: parsePermissions(row.permissions),
    keyPrefix: row.key_prefix,
    recoverable: row.auth_tag !== null,
    keyVersion: row.key_version === null ? null : Number(row.key_version),
    rotationStatus: row.rotation_status,
    rotatedAt: toMillis(row.rotated_at),
    previousKeyId: row.previous_key_id,
    graceExpiresAt: toMillis(row.grace_expires_at),
    expiresAt: toMillis(row.expires_at),
    lastUsedAt: toMillis(row.last_used_at),
    revokedAt: toMillis(row.revoked_at),
    revokedReason: row.revoked_reason,
    createdBy: row.created_by,
    createdAt: toMillis(row.created_at),
    updatedAt: toMillis(row.updated_at),
  });
}

/**
 * Permissions as stored: JSON, or null for none.
 *
 * @example
 * permissionsToJson({ reports: ['read'] }) // '{"reports":["read"]}'
 *
 * @throws nothing
 */
export function permissionsToJson(permissions: ApiKeyPermissions | null | undefined): string | null {
  return permissions == null ? null : JSON.stringify(permissions);
}

function parsePermissions(json: string | null): ApiKeyPermissions | null {
  if (json === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new SecurityError('ERR_STORAGE_FAILURE', 'stored API-key permissions are not valid JSON', { cause: error });
  }
  const ok =
    typeof value === 'object' && value !== null && !Array.isArray(value) &&
    Object.values(value).every((list) => Array.isArray(list) && list.every((a) => typeof a === 'string'));
  if (!ok) throw new SecurityError('ERR_STORAGE_FAILURE', 'stored API-key permissions are not a map of action lists');
  const record = value as Record<string, string[]>;
  for (const list of Object.values(record)) Object.freeze(list);
  return Object.freeze(record);
}

/**
 * The encryption context of a stored value: the table, the column, the row and its owner. A value
 * copied to another row, user or service no longer decrypts.
 *
 * @example
 * valueContext('api_keys', id, 'user-1', 'openai')
 *
 * @throws nothing
 */
export function valueContext(table: string, id: string, userId: string, service: string): EncryptionContext {
  return { table, column: 'value', id, user: userId, service };
}

/** The envelope columns of a recoverable value. */
export interface EnvelopeColumns {
  /** base64url of the binary envelope without its 16-byte tag. */
  readonly encrypted_value: string;
  /** base64url of the GCM tag (the spec's `authTag`). */
  readonly auth_tag: string;
  /** The envelope's key version (the spec's `keyVersion`), so SQL can find rows to rewrap. */
  readonly key_version: number;
}

/**
 * Splits an envelope into its columns.
 *
 * @example
 * const columns = splitEnvelope(await encryptor.encrypt(value, context))
 *
 * @throws nothing
 */
export function splitEnvelope(envelope: Envelope): EnvelopeColumns {
  const bytes = envelopeToBytes(envelope);
  return {
    encrypted_value: bytes.subarray(0, bytes.length - TAG_BYTES).toString('base64url'),
    auth_tag: bytes.subarray(bytes.length - TAG_BYTES).toString('base64url'),
    key_version: envelope.keyVersion,
  };
}

/**
 * Joins the columns back into an envelope and checks that the key-version column agrees with the
 * authenticated header. Any inconsistency is a decryption failure, with the one fixed message.
 *
 * @example
 * const plaintext = await encryptor.decryptToString(joinEnvelope(row), context)
 *
 * @throws ERR_DECRYPTION_FAILED
 */
export function joinEnvelope(columns: { encrypted_value: string | null; auth_tag: string | null; key_version: number | null }): Envelope {
  const { encrypted_value: body, auth_tag: tag, key_version: version } = columns;
  if (body === null || tag === null || version === null) throw decryptionFailed();
  const head = Buffer.from(body, 'base64url');
  const mac = Buffer.from(tag, 'base64url');
  // Node's decoder skips characters it cannot read: insist on the canonical text.
  if (head.toString('base64url') !== body || mac.toString('base64url') !== tag || mac.length !== TAG_BYTES) {
    throw decryptionFailed();
  }
  let envelope: Envelope;
  try {
    envelope = parseEnvelope(Buffer.concat([head, mac]), head.length + TAG_BYTES);
  } catch (error) {
    throw decryptionFailed(error);
  }
  if (envelope.keyVersion !== Number(version)) throw decryptionFailed();
  return envelope;
}
