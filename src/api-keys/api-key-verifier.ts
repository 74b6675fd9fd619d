import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { nullAuditSink, type AuditSink } from '../audit/events.js';
import { rowToRecord, type ApiKeyRecord, type ApiKeyRow } from './api-key-records.js';
import type { ApiKeyStore } from './api-key-store.js';
import type { VerifyFailureReason, VerifyOptions, VerifyResult } from './api-key-types.js';
import { MAX_VALUE_CHARS, MIN_VALUE_CHARS, hasValidChecksum } from './key-format.js';
import type { LastUseTracker } from './last-use-tracker.js';
import type { VerifyCache, VerifyCacheEntry } from './verify-cache.js';

/** What the verifier needs from the service. */
export interface VerifierDeps {
  readonly store: ApiKeyStore;
  readonly lookupKey: KeyObject;
  readonly keyPrefix: string;
  readonly cache: VerifyCache | undefined;
  readonly tracker: LastUseTracker;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

const HASH_BYTES = 32;
const NO_HASH = Buffer.alloc(HASH_BYTES);
const FAILURES: Readonly<Record<VerifyFailureReason, VerifyResult>> = Object.freeze({
  malformed: Object.freeze({ ok: false, reason: 'malformed' }),
  unknown: Object.freeze({ ok: false, reason: 'unknown' }),
  revoked: Object.freeze({ ok: false, reason: 'revoked' }),
  expired: Object.freeze({ ok: false, reason: 'expired' }),
  rotated: Object.freeze({ ok: false, reason: 'rotated' }),
});

/**
 * The `verifyApiKey` of a service. The request path runs no zod and allocates little: a shape
 * check, one HMAC, a cache lookup or one indexed query, one constant-time compare, a few field
 * reads, and a map write for last use. Invariants:
 * - malformed input (not a string, under 16 or over 4096 characters, not printable ASCII, or an
 *   issued-format key with a wrong checksum) is refused before any HMAC or query;
 * - unknown keys and wrong keys are the same case (no row has their hash) and cost the same: one
 *   HMAC and one indexed query;
 * - a key is accepted only while not revoked, not expired, and not rotated past its grace;
 * - no write happens per request; the audit event never holds the presented value or its hash.
 *
 * @example
 * const verify = createVerifier(deps)
 * const result = await verify(req.headers['x-api-key'], { ip: req.ip })
 *
 * @throws ERR_STORAGE_FAILURE when the database cannot be read (never for any presented value)
 */
export function createVerifier(deps: VerifierDeps): (presented: unknown, options?: VerifyOptions) => Promise<VerifyResult> {
  const { store, lookupKey, cache, tracker, audit, clock } = deps;
  const issuedStart = `${deps.keyPrefix}_`;
  const prefixLength = deps.keyPrefix.length;
  const auditing = audit !== nullAuditSink;

  function wellFormed(presented: unknown): presented is string {
    if (typeof presented !== 'string') return false;
    const n = presented.length;
    if (n < MIN_VALUE_CHARS || n > MAX_VALUE_CHARS) return false;
    if (presented.startsWith(issuedStart)) return hasValidChecksum(presented, prefixLength);
    for (let i = 0; i < n; i++) {
      const c = presented.charCodeAt(i);
      if (c < 0x21 || c > 0x7e) return false;
    }
    return true;
  }

  function refuse(reason: VerifyFailureReason, options: VerifyOptions | undefined, keyId?: string): VerifyResult {
    if (auditing) {
      const metadata: Record<string, string> = { reason };
      if (keyId !== undefined) metadata.keyId = keyId;
      audit.record({
        type: 'authn_api_key_fail',
        severity: 'warning',
        outcome: 'failure',
        ...(keyId === undefined ? {} : { actor: { type: 'api_key', id: keyId } }),
        ...requestFacts(options),
        resource: 'api_keys',
        action: 'verify',
        metadata,
      });
    }
    return FAILURES[reason];
  }

  function entryOf(row: ApiKeyRow, now: number): VerifyCacheEntry {
    const record = rowToRecord(row);
    return { record, hash: Buffer.from(row.lookup_hash, 'hex'), success: Object.freeze({ ok: true, key: record }), expiresAt: cache?.deadline(now) ?? now };
  }

  // Holds the digest for the compare: written and read in one synchronous stretch, never across an await.
  const scratch = Buffer.alloc(HASH_BYTES);

  return async function verifyApiKey(presented: unknown, options?: VerifyOptions): Promise<VerifyResult> {
    const now = clock();
    if (!wellFormed(presented)) return refuse('malformed', options);
    // The digest as a one-byte string: the cheapest form Node returns, and the cache's key.
    const digest = createHmac('sha256', lookupKey).update(presented).digest('binary');
    let entry = cache?.get(digest, now);
    if (entry === undefined) {
      const generation = cache?.generation ?? 0;
      scratch.write(digest, 0, 'latin1');
      const row = await store.findByHash(scratch.toString('hex'));
      if (row === undefined) {
        // The same compare a found key costs, so a miss takes as long as a mismatch.
        scratch.write(digest, 0, 'latin1');
        timingSafeEqual(NO_HASH, scratch);
        return refuse('unknown', options);
      }
      entry = entryOf(row, now);
      cache?.set(digest, entry, generation);
    }
    // The index (or the map) found the entry by hash; the compare makes the match itself
    // constant-time and refuses a row whose stored hash is damaged.
    scratch.write(digest, 0, 'latin1');
    if (entry.hash.length !== HASH_BYTES || !timingSafeEqual(entry.hash, scratch)) return refuse('unknown', options);
    const record = entry.record;
    if (record.revokedAt !== null) return refuse('revoked', options, record.id);
    if (record.rotationStatus === 'rotated' && (record.graceExpiresAt === null || record.graceExpiresAt <= now)) {
      return refuse('rotated', options, record.id);
    }
    if (record.expiresAt !== null && record.expiresAt <= now) return refuse('expired', options, record.id);
    tracker.touch(record.id, now);
    if (auditing) success(record, options);
    return entry.success;
  };

  function success(record: ApiKeyRecord, options: VerifyOptions | undefined): void {
    audit.record({
      type: 'authn_api_key_success',
      severity: 'info',
      outcome: 'success',
      actor: { type: 'api_key', id: record.id },
      ...requestFacts(options),
      resource: 'api_keys',
      action: 'verify',
      metadata: { keyId: record.id, rotationStatus: record.rotationStatus },
    });
  }
}

/** The IP and request id for the audit row, when they are strings of sane length (never validated with zod here). */
function requestFacts(options: VerifyOptions | undefined): { sourceIp?: string; requestId?: string } {
  if (options === undefined || options === null || typeof options !== 'object') return {};
  const out: { sourceIp?: string; requestId?: string } = {};
  if (typeof options.ip === 'string' && options.ip.length <= 64) out.sourceIp = options.ip;
  if (typeof options.requestId === 'string' && options.requestId.length <= 128) out.requestId = options.requestId;
  return out;
}
