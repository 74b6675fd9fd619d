import { describe, expect, it } from 'vitest';
import {
  AUDIT_COLUMN_LIMITS,
  METADATA_LIMITS,
  REDACTED,
  SENSITIVE_METADATA_KEY,
  clip,
  sanitizeEvent,
  serializeMetadata,
  type AuditRow,
} from '../../src/audit/sanitize.js';
import { reducedRow } from '../../src/audit/kysely-audit-store.js';
import type { AuditEventInput } from '../../src/audit/events.js';

const NOW = 1_700_000_000_000;
const row = (event: AuditEventInput) => sanitizeEvent(event, NOW) as AuditRow;

describe('sanitizeEvent', () => {
  it('maps every field of an event onto its column', () => {
    expect(
      row({
        type: 'authn_login_fail',
        severity: 'warning',
        outcome: 'failure',
        actor: { type: 'user', id: 'u_42' },
        sourceIp: '203.0.113.7',
        resource: 'session',
        action: 'login',
        requestId: 'req-1',
        metadata: { reason: 'bad_password', attempt: 3, locked: false, hint: null },
        occurredAt: 1234.9,
      }),
    ).toEqual({
      occurred_at: 1234,
      event_type: 'authn_login_fail',
      severity: 'warning',
      outcome: 'failure',
      actor_type: 'user',
      actor_id: 'u_42',
      source_ip: '203.0.113.7',
      resource: 'session',
      action: 'login',
      request_id: 'req-1',
      metadata: '{"reason":"bad_password","attempt":3,"locked":false,"hint":null}',
    });
  });

  it('defaults: the clock’s time, outcome unknown, the system as actor, nulls and no metadata', () => {
    expect(row({ type: 'sys_insecure_key', severity: 'critical' })).toMatchObject({
      occurred_at: NOW,
      outcome: 'unknown',
      actor_type: 'system',
      actor_id: null,
      source_ip: null,
      metadata: null,
    });
    expect(row({ type: 'x', severity: 'info', occurredAt: Number.NaN }).occurred_at).toBe(NOW);
    expect(row({ type: 'x', severity: 'info', occurredAt: -5 }).occurred_at).toBe(NOW);
  });

  it('names the field that makes an event invalid, never its value', () => {
    const cases: Array<[unknown, string]> = [
      [null, 'event'],
      ['authn_login_fail', 'event'],
      [{ type: '', severity: 'info' }, 'type'],
      [{ type: 'Authn', severity: 'info' }, 'type'],
      [{ type: 'drop table x;', severity: 'info' }, 'type'],
      [{ type: 'a'.repeat(65), severity: 'info' }, 'type'],
      [{ type: 42, severity: 'info' }, 'type'],
      [{ type: 'x', severity: 'fatal' }, 'severity'],
      [{ type: 'x', severity: '__proto__' }, 'severity'],
      [{ type: 'x', severity: 'toString' }, 'severity'],
      [{ type: 'x', severity: 'info', outcome: 'maybe' }, 'outcome'],
      [{ type: 'x', severity: 'info', actor: { type: 'robot' } }, 'actor'],
      [{ type: 'x', severity: 'info', actor: 'u_1' }, 'actor'],
    ];
    for (const [event, field] of cases) expect(sanitizeEvent(event as AuditEventInput, NOW)).toBe(field);
    expect(sanitizeEvent({ type: 'a'.repeat(64), severity: 'info' }, NOW)).toMatchObject({ event_type: 'a'.repeat(64) });
  });

  it('cuts strings to their column sizes and removes NUL characters', () => {
    const long = 'x'.repeat(1000);
    const r = row({ type: 'x', severity: 'info', actor: { type: 'api_key', id: long }, sourceIp: long, resource: long, action: long, requestId: long });
    expect(r.actor_id).toHaveLength(AUDIT_COLUMN_LIMITS.actorId);
    expect(r.source_ip).toHaveLength(AUDIT_COLUMN_LIMITS.sourceIp);
    expect(r.resource).toHaveLength(AUDIT_COLUMN_LIMITS.resource);
    expect(r.action).toHaveLength(AUDIT_COLUMN_LIMITS.action);
    expect(r.request_id).toHaveLength(AUDIT_COLUMN_LIMITS.requestId);
    expect(row({ type: 'x', severity: 'info', resource: 'a\0b' }).resource).toBe('ab');
    expect(row({ type: 'x', severity: 'info', actor: { type: 'user', id: 42 as never } }).actor_id).toBe('42');
    expect(row({ type: 'x', severity: 'info', resource: { toString: () => 'x' } as never }).resource).toBeNull();
  });

  it('never splits a surrogate pair when cutting', () => {
    const s = `${'a'.repeat(3)}😀`;
    expect(clip(s, 4)).toBe('aaa');
    expect(clip(s, 5)).toBe(s);
  });
});

describe('metadata', () => {
  it('redacts the value of every sensitive key name, whatever the value', () => {
    const secret = 'sk_live_9f8e7d6c5b4a';
    const keys = ['apiKey', 'api_key', 'API-KEY', 'password', 'dbPasswd', 'clientSecret', 'accessToken', 'authorization', 'plaintext', 'dataKey', 'data_key', 'privateKey'];
    const metadata = Object.fromEntries(keys.map((k) => [k, secret]));
    const json = serializeMetadata({ ...metadata, keyId: 'k_1', keyPrefix: 'afk_3xT9' })!;
    expect(json).not.toContain(secret);
    const parsed = JSON.parse(json) as Record<string, unknown>;
    for (const k of keys) expect(parsed[k]).toBe(REDACTED);
    expect(parsed).toMatchObject({ keyId: 'k_1', keyPrefix: 'afk_3xT9' });
    for (const k of keys) expect(SENSITIVE_METADATA_KEY.test(k)).toBe(true);
  });

  it('keeps scalars only: nested objects, arrays, functions and bigints are never serialized', () => {
    const parsed = JSON.parse(
      serializeMetadata({ nested: { password: 'p' }, list: ['a'], fn: () => 1, big: 10n, inf: Infinity, undef: undefined, ok: 'yes' })!,
    ) as Record<string, unknown>;
    expect(parsed).toEqual({ nested: '[unsupported]', list: '[unsupported]', fn: '[unsupported]', big: '[unsupported]', inf: null, undef: '[unsupported]', ok: 'yes' });
    expect(serializeMetadata(['a'])).toBeNull();
    expect(serializeMetadata('text')).toBeNull();
    expect(serializeMetadata({})).toBeNull();
  });

  it('keeps at most 32 keys and marks the cut', () => {
    const parsed = JSON.parse(serializeMetadata(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])))!) as Record<string, unknown>;
    expect(Object.keys(parsed)).toHaveLength(METADATA_LIMITS.maxKeys + 1);
    expect(parsed._truncated).toBe(true);
    expect(parsed.k31).toBe(31);
    expect(parsed.k32).toBeUndefined();
  });

  it('stays within 4 KiB of UTF-8, long strings cut and later keys left out, with the marker', () => {
    const json = serializeMetadata(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'é'.repeat(5000)])))!;
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(METADATA_LIMITS.maxBytes);
    const parsed = JSON.parse(json) as Record<string, unknown>;
    expect(parsed._truncated).toBe(true);
    expect(parsed.k0).toBe('é'.repeat(METADATA_LIMITS.maxStringLength));
    expect(parsed.k19).toBeUndefined();
    expect(Object.keys(JSON.parse(serializeMetadata({ ['k'.repeat(100)]: 1 })!) as object)).toEqual(['k'.repeat(64), '_truncated']);
  });
});

it('the reduced form of a row holds printable ASCII only and no metadata', () => {
  const r = reducedRow(row({ type: 'x', severity: 'error', resource: 'café ☠', actor: { type: 'user', id: 'ü' }, metadata: { a: 'ü' } }));
  expect(r).toMatchObject({ resource: 'caf? ?', actor_id: '?', metadata: '{"_reduced":true}', severity: 'error' });
});
