import { isSecurityError, type ErrorCode } from '../core/errors.js';
import type { AuditActor, AuditEventInput, AuditEventType, AuditSink, Severity } from '../audit/events.js';

/** The facts an operation adds to its audit row: ids, names, counts; never a value, hash or envelope. */
export type AuditFacts = Record<string, string | number | boolean | null>;

/**
 * The `errorCode` of a failure's audit row: the library error's code, or `unexpected_error` for
 * anything else (a bug, not a database failure: database errors reach here as ERR_STORAGE_FAILURE).
 */
export type AuditErrorCode = ErrorCode | 'unexpected_error';

/** Records the audit event of one API-key operation, success or failure. */
export type AuditedRun = <T>(
  type: AuditEventType,
  action: string,
  options: unknown,
  body: (facts: AuditFacts) => Promise<T>,
) => Promise<T>;

const RESOURCE = 'api_keys';

/**
 * Wraps each management operation so it records exactly one audit event: its own type on
 * success (`authn_token_revealed` as a warning, the rest as info), the same type as a failure
 * with its {@link AuditErrorCode} (warning; error for ERR_STORAGE_FAILURE and `unexpected_error`),
 * or `authz_escalation_denied` when the escalation check refused. Actor, IP and request id are read defensively from the raw,
 * possibly invalid, options: a failed validation is audited too.
 *
 * @example
 * const run = auditedRunner(sink)
 * await run('authn_token_read', 'read', options, async (facts) => { facts.keyId = id; return record })
 *
 * @throws whatever the body throws, after recording it
 */
export function auditedRunner(sink: AuditSink): AuditedRun {
  return async (type, action, options, body) => {
    const facts: AuditFacts = {};
    const base = context(options);
    try {
      const result = await body(facts);
      const severity: Severity = type === 'authn_token_revealed' ? 'warning' : 'info';
      sink.record({ ...base, type, severity, outcome: 'success', action, resource: RESOURCE, metadata: facts });
      return result;
    } catch (error) {
      const code: AuditErrorCode = isSecurityError(error) ? error.code : 'unexpected_error';
      const escalation = code === 'ERR_PRIVILEGE_ESCALATION';
      sink.record({
        ...base,
        type: escalation ? 'authz_escalation_denied' : type,
        severity: code === 'ERR_STORAGE_FAILURE' || code === 'unexpected_error' ? 'error' : 'warning',
        outcome: 'failure',
        action,
        resource: RESOURCE,
        metadata: { ...facts, errorCode: code },
      });
      throw error;
    }
  };
}

/** The audit actor of a principal-like value; the system when there is none. */
export function auditActor(actor: unknown): AuditActor {
  if (typeof actor !== 'object' || actor === null) return { type: 'system' };
  const { type, id } = actor as { type?: unknown; id?: unknown };
  const kind = type === 'api_key' || type === 'system' ? type : 'user';
  return typeof id === 'string' && id.length > 0 && id.length <= 255 ? { type: kind, id } : { type: kind };
}

function context(options: unknown): Pick<AuditEventInput, 'actor' | 'sourceIp' | 'requestId'> {
  const o = typeof options === 'object' && options !== null ? (options as Record<string, unknown>) : {};
  const out: { actor: AuditActor; sourceIp?: string; requestId?: string } = { actor: auditActor(o.actor) };
  if (typeof o.sourceIp === 'string' && o.sourceIp.length <= 64) out.sourceIp = o.sourceIp;
  if (typeof o.requestId === 'string' && o.requestId.length <= 128) out.requestId = o.requestId;
  return out;
}
