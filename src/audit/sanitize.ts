import type { SecurityAuditLogsTable, Severity } from '../storage/schema.js';
import type { AuditEventInput } from './events.js';

/**
 * Metadata keys whose values are replaced by {@link REDACTED} before a row is built, whatever the
 * value: defence in depth against a caller that puts a key, a password or a plaintext in metadata.
 * Ids belong in `actor.id` and `resource`, or under a key that does not match (`keyId`, `keyPrefix`).
 */
export const SENSITIVE_METADATA_KEY = /(secret|password|passwd|token|api[_-]?key|authorization|plaintext|data[_-]?key|private)/i;

/** What a redacted metadata value becomes. */
export const REDACTED = '[redacted]';

/** Metadata limits: keys kept, serialized size (UTF-8 bytes), and the length of one key and one string value. */
export const METADATA_LIMITS = Object.freeze({ maxKeys: 32, maxBytes: 4096, maxKeyLength: 64, maxStringLength: 1024 });

/** Column sizes of `security_audit_logs` (the initial migration's varchar lengths), in characters. */
export const AUDIT_COLUMN_LIMITS = Object.freeze({
  eventType: 64,
  actorId: 255,
  sourceIp: 64,
  resource: 128,
  action: 64,
  requestId: 128,
});

/** The marker key added to metadata that lost keys or characters to the limits. */
export const TRUNCATED_MARKER = '_truncated';

/** One row of `security_audit_logs` as the writer inserts it: every column present, no extra key. */
export type AuditRow = Omit<SecurityAuditLogsTable, 'id' | 'occurred_at'> & { occurred_at: number };

/** Why an event was refused: the field's name, never its value. */
export type InvalidField = 'event' | 'type' | 'severity' | 'outcome' | 'actor';

const EVENT_TYPE = /^[a-z][a-z0-9_]*$/;
// Sets, not object literals: `has` on any value (even '__proto__' or a symbol) is safe.
const SEVERITIES: ReadonlySet<unknown> = new Set<Severity>(['info', 'warning', 'error', 'critical']);
const OUTCOMES: ReadonlySet<unknown> = new Set<AuditRow['outcome']>(['success', 'failure', 'unknown']);
const ACTOR_TYPES: ReadonlySet<unknown> = new Set<AuditRow['actor_type']>(['user', 'api_key', 'system']);

/**
 * Turns a recorded event into a row, or names the field that makes it unusable. Runs on the
 * request path, so it is written by hand (no zod) and never throws for any input, even a hostile
 * object with throwing getters (the caller catches that one case).
 *
 * Strings are cut to their column sizes, NUL characters are removed (PostgreSQL refuses them in
 * text), metadata keeps only scalar values, at most 32 keys and 4 KiB, and sensitive keys are redacted.
 */
export function sanitizeEvent(event: AuditEventInput, now: number): AuditRow | InvalidField {
  if (typeof event !== 'object' || event === null) return 'event';
  const type = event.type;
  if (typeof type !== 'string' || type.length === 0 || type.length > AUDIT_COLUMN_LIMITS.eventType || !EVENT_TYPE.test(type)) return 'type';
  const severity = event.severity;
  if (!SEVERITIES.has(severity)) return 'severity';
  const outcome = event.outcome ?? 'unknown';
  if (!OUTCOMES.has(outcome)) return 'outcome';
  let actorType: AuditRow['actor_type'] = 'system';
  let actorId: string | null = null;
  const actor = event.actor;
  if (actor !== undefined && actor !== null) {
    if (typeof actor !== 'object' || !ACTOR_TYPES.has(actor.type)) return 'actor';
    actorType = actor.type;
    actorId = column(actor.id, AUDIT_COLUMN_LIMITS.actorId);
  }
  const at = event.occurredAt;
  return {
    occurred_at: typeof at === 'number' && Number.isFinite(at) && at >= 0 ? Math.trunc(at) : now,
    event_type: type,
    severity,
    outcome,
    actor_type: actorType,
    actor_id: actorId,
    source_ip: column(event.sourceIp, AUDIT_COLUMN_LIMITS.sourceIp),
    resource: column(event.resource, AUDIT_COLUMN_LIMITS.resource),
    action: column(event.action, AUDIT_COLUMN_LIMITS.action),
    request_id: column(event.requestId, AUDIT_COLUMN_LIMITS.requestId),
    metadata: serializeMetadata(event.metadata),
  };
}

/** A string (or a number, for numeric ids) cut to `max` characters; anything else is null. */
function column(value: unknown, max: number): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.length === 0) return null;
  return clip(value, max);
}

/**
 * Cuts a string to at most `max` UTF-16 units (so at most `max` characters in any database) without
 * splitting a surrogate pair, and drops NUL characters.
 */
export function clip(value: string, max: number): string {
  let s = value.includes('\0') ? value.replaceAll('\0', '') : value;
  if (s.length > max) {
    const code = s.charCodeAt(max - 1);
    s = s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
  }
  return s;
}

/**
 * Metadata as a JSON object string, or null when there is none. Values that are not a string,
 * finite number, boolean or null become `"[unsupported]"` (nested objects are never walked: they
 * could hold anything). Entries that do not fit the limits are left out and `_truncated: true` added.
 */
export function serializeMetadata(metadata: unknown): string | null {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return null;
  const keys = Object.keys(metadata);
  if (keys.length === 0) return null;
  // Room for `,"_truncated":true` and the braces, so the marker always fits.
  const budget = METADATA_LIMITS.maxBytes - 2 - (TRUNCATED_MARKER.length + 8);
  let body = '';
  let bytes = 0;
  let truncated = keys.length > METADATA_LIMITS.maxKeys;
  const count = Math.min(keys.length, METADATA_LIMITS.maxKeys);
  for (let i = 0; i < count; i++) {
    const rawKey = keys[i]!;
    const key = rawKey.length > METADATA_LIMITS.maxKeyLength ? clip(rawKey, METADATA_LIMITS.maxKeyLength) : rawKey;
    if (key !== rawKey) truncated = true;
    let value: string | number | boolean | null;
    if (SENSITIVE_METADATA_KEY.test(rawKey)) {
      value = REDACTED;
    } else {
      const raw = (metadata as Record<string, unknown>)[rawKey];
      if (typeof raw === 'string') {
        value = raw.length > METADATA_LIMITS.maxStringLength || raw.includes('\0') ? clip(raw, METADATA_LIMITS.maxStringLength) : raw;
        if (value.length !== raw.length) truncated = true;
      } else if (typeof raw === 'number') value = Number.isFinite(raw) ? raw : null;
      else if (typeof raw === 'boolean' || raw === null) value = raw;
      else value = '[unsupported]';
    }
    const piece = `${body === '' ? '' : ','}${JSON.stringify(key)}:${JSON.stringify(value)}`;
    const size = Buffer.byteLength(piece);
    if (bytes + size > budget) {
      truncated = true;
      continue;
    }
    body += piece;
    bytes += size;
  }
  if (truncated) body += `${body === '' ? '' : ','}"${TRUNCATED_MARKER}":true`;
  return `{${body}}`;
}
