import { beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import type { Kysely, KyselyPlugin } from 'kysely';
import { describeEachDatabase } from '../helpers/databases.js';
import { keyStack } from '../helpers/key-stack.js';
import { manualClock } from '../helpers/providers.js';
import { resolveTableNames } from '../../src/storage/table-names.js';
import type { Encryptor } from '../../src/crypto/encryptor.js';
import { silentLogger } from '../../src/core/logger.js';
import type { AuditEventInput, AuditSink } from '../../src/audit/events.js';
import type { SecurityDatabase } from '../../src/storage/schema.js';
import { createApiKeyService, type ApiKeyServiceOptions } from '../../src/api-keys/api-key-service.js';
import { generateIssuedKey } from '../../src/api-keys/key-format.js';

const tables = resolveTableNames();
const HOUR = 60 * 60 * 1000;
const TTL = 5000;

function capturingSink(): AuditSink & { events: AuditEventInput[] } {
  const events: AuditEventInput[] = [];
  return { events, record: (e) => void events.push(e) };
}

/** The same database through a plugin that counts the queries compiled for execution, by kind. */
function counting(db: Kysely<SecurityDatabase>) {
  const counts = { all: 0, select: 0, update: 0 };
  const plugin: KyselyPlugin = {
    transformQuery({ node }) {
      counts.all++;
      if (node.kind === 'SelectQueryNode') counts.select++;
      if (node.kind === 'UpdateQueryNode') counts.update++;
      return node;
    },
    transformResult: async ({ result }) => result,
  };
  return { db: db.withPlugin(plugin), counts };
}

describeEachDatabase('verifyApiKey', (get) => {
  let encryptor: Encryptor;
  let lookupKey: KeyObject;
  const clock = manualClock();
  const service = (extra: Partial<ApiKeyServiceOptions> = {}) =>
    createApiKeyService({ db: get().db, tables, encryptor, lookupKey, clock: clock.now, logger: silentLogger, verifyCache: { ttlMs: TTL }, ...extra });
  const user = () => `u-${randomUUID()}`;

  beforeAll(async () => {
    ({ encryptor, lookupKey } = await keyStack(get().db, tables));
  });

  it('accepts an issued key and a host-supplied value, returning the record', async () => {
    const apiKeys = service();
    const issued = await apiKeys.issueApiKey(user(), 'agentflow', 'k', { role: 'readonly' });
    expect(await apiKeys.verifyApiKey(issued.key)).toEqual({ ok: true, key: issued.record });
    const hostValue = `ghp_${randomBytes(20).toString('hex')}`;
    const stored = await apiKeys.addApiKey(user(), 'github', 'k', hostValue);
    expect(await apiKeys.verifyApiKey(hostValue)).toEqual({ ok: true, key: stored });
    await apiKeys.close();
  });

  it('refuses malformed input before any HMAC or query: no query is compiled, and a database that fails every query is never touched', async () => {
    const { db, counts } = counting(get().db);
    const apiKeys = service({ db });
    const good = generateIssuedKey();
    const badChecksum = good.slice(0, -1) + (good.endsWith('0') ? '1' : '0');
    const malformed: unknown[] = [undefined, null, 42, {}, [good], Buffer.from(good), '', 'short', 'x'.repeat(4097), badChecksum, good.slice(0, -1), `${good}x`, 'afk_' + '0'.repeat(49), `${good.slice(0, 20)} ${good.slice(21)}`, `é${good}`, `${good}\n`];
    for (const presented of malformed) expect(await apiKeys.verifyApiKey(presented)).toEqual({ ok: false, reason: 'malformed' });
    expect(counts.all).toBe(0);
    await apiKeys.close();

    const offline = service({ db: get().db.withPlugin({
      transformQuery: () => { throw new Error('no query may run'); },
      transformResult: async ({ result }) => result,
    }) });
    expect(await offline.verifyApiKey(badChecksum)).toEqual({ ok: false, reason: 'malformed' });
    await expect(offline.verifyApiKey(good)).rejects.toMatchObject({ code: 'ERR_STORAGE_FAILURE' });
  });

  it('refuses unknown, revoked, expired and rotated-past-grace keys, each with its own reason and nothing else', async () => {
    const apiKeys = service({ rotationGracePeriodMs: HOUR });
    expect(await apiKeys.verifyApiKey(generateIssuedKey())).toEqual({ ok: false, reason: 'unknown' });
    expect(await apiKeys.verifyApiKey(`sk_unknown_${randomBytes(16).toString('hex')}`)).toEqual({ ok: false, reason: 'unknown' });
    const revoked = await apiKeys.issueApiKey(user(), 'a', 'k');
    await apiKeys.revokeApiKey(revoked.record.id);
    const expiring = await apiKeys.issueApiKey(user(), 'a', 'k', { expiresAt: clock.now() + 1000 });
    const old = await apiKeys.issueApiKey(user(), 'a', 'k');
    const successor = await apiKeys.rotateApiKey(old.record.id);
    expect(await apiKeys.verifyApiKey(revoked.key)).toEqual({ ok: false, reason: 'revoked' });
    expect((await apiKeys.verifyApiKey(expiring.key)).ok).toBe(true);
    clock.advance(1000);
    expect(await apiKeys.verifyApiKey(expiring.key)).toEqual({ ok: false, reason: 'expired' });
    expect((await apiKeys.verifyApiKey(old.key)).ok).toBe(true);
    clock.advance(HOUR - 1000);
    expect(await apiKeys.verifyApiKey(old.key)).toEqual({ ok: false, reason: 'rotated' });
    expect((await apiKeys.verifyApiKey(successor.key)).ok).toBe(true);
    for (const key of [revoked.key, expiring.key, old.key, generateIssuedKey()]) {
      expect(Object.keys(await apiKeys.verifyApiKey(key))).toEqual(['ok', 'reason']);
    }
    await apiKeys.close();
  });

  it('a key marked pending_rotation still verifies', async () => {
    const apiKeys = service({ verifyCache: false });
    const issued = await apiKeys.issueApiKey(user(), 'a', 'k');
    await get().db.updateTable('api_keys').set({ rotation_status: 'pending_rotation' }).where('id', '=', issued.record.id).execute();
    expect(await apiKeys.verifyApiKey(issued.key)).toMatchObject({ ok: true, key: { rotationStatus: 'pending_rotation' } });
    await apiKeys.close();
  });

  it('after rotation the old key works within the grace period and is refused after it', async () => {
    const apiKeys = service();
    const old = await apiKeys.issueApiKey(user(), 'a', 'k');
    expect((await apiKeys.verifyApiKey(old.key)).ok).toBe(true);
    const rotated = await apiKeys.rotateApiKey(old.record.id, { gracePeriodMs: 10 * 60 * 1000 });
    expect(await apiKeys.verifyApiKey(old.key)).toMatchObject({ ok: true, key: { rotationStatus: 'rotated', graceExpiresAt: clock.now() + 600_000 } });
    clock.advance(600_000 - 1);
    expect((await apiKeys.verifyApiKey(old.key)).ok).toBe(true);
    clock.advance(1);
    expect(await apiKeys.verifyApiKey(old.key)).toEqual({ ok: false, reason: 'rotated' });
    expect(await apiKeys.verifyApiKey(rotated.key)).toMatchObject({ ok: true, key: { previousKeyId: old.record.id } });
    await apiKeys.close();
  });

  it('a cached key is verified without a query; revocation on the same instance takes effect at once', async () => {
    const { db, counts } = counting(get().db);
    const apiKeys = service({ db });
    const issued = await apiKeys.issueApiKey(user(), 'a', 'k');
    const selects = counts.select;
    for (let i = 0; i < 5; i++) expect((await apiKeys.verifyApiKey(issued.key)).ok).toBe(true);
    expect(counts.select - selects).toBe(1);
    await apiKeys.revokeApiKey(issued.record.id);
    expect(await apiKeys.verifyApiKey(issued.key)).toEqual({ ok: false, reason: 'revoked' });
    await apiKeys.close();
  });

  it('an update or rotation on the same instance is seen by the next verify, cached or not', async () => {
    const apiKeys = service();
    const issued = await apiKeys.issueApiKey(user(), 'a', 'k', { role: 'user' });
    expect(await apiKeys.verifyApiKey(issued.key)).toMatchObject({ ok: true, key: { role: 'user' } });
    await apiKeys.updateApiKey(issued.record.id, { role: 'readonly', permissions: { reports: ['read'] } });
    expect(await apiKeys.verifyApiKey(issued.key)).toMatchObject({ ok: true, key: { role: 'readonly', permissions: { reports: ['read'] } } });
    await apiKeys.rotateApiKey(issued.record.id, { gracePeriodMs: 0 });
    expect(await apiKeys.verifyApiKey(issued.key)).toEqual({ ok: false, reason: 'rotated' });
    await apiKeys.close();
  });

  it('another instance with a cache sees a revocation only after the cache ttl, and without a cache at once', async () => {
    const other = await get().openAnother();
    const a = service();
    const b = service({ db: other.db });
    const uncached = service({ db: other.db, verifyCache: false });
    const issued = await a.issueApiKey(user(), 'a', 'k');
    expect((await a.verifyApiKey(issued.key)).ok).toBe(true);
    expect((await b.verifyApiKey(issued.key)).ok).toBe(true);
    const cachedAt = clock.now();
    await a.revokeApiKey(issued.record.id);
    expect(await a.verifyApiKey(issued.key)).toEqual({ ok: false, reason: 'revoked' });
    expect(await uncached.verifyApiKey(issued.key)).toEqual({ ok: false, reason: 'revoked' });
    // The documented staleness bound: b trusts its copy for ttlMs after reading it.
    clock.advance(TTL - 1);
    expect((await b.verifyApiKey(issued.key)).ok).toBe(true);
    clock.advance(1);
    expect(clock.now() - cachedAt).toBe(TTL);
    expect(await b.verifyApiKey(issued.key)).toEqual({ ok: false, reason: 'revoked' });
    await Promise.all([a.close(), b.close(), uncached.close()]);
  });

  it('last use is written in one batch per flush, never per request, and never moves back', async () => {
    const { db, counts } = counting(get().db);
    const apiKeys = service({ db, verifyCache: false });
    const keys = await Promise.all([0, 1, 2].map(() => apiKeys.issueApiKey(user(), 'a', 'k')));
    const updates = counts.update;
    for (let i = 0; i < 10; i++) {
      clock.advance(1);
      for (const { key } of keys) expect((await apiKeys.verifyApiKey(key, { ip: '192.0.2.1' })).ok).toBe(true);
    }
    expect(counts.update).toBe(updates);
    const lastUse = async () => Promise.all(keys.map(async ({ record }) => (await apiKeys.getApiKey(record.id)).lastUsedAt));
    expect(await lastUse()).toEqual([null, null, null]);
    expect(await apiKeys.flushLastUse()).toBe(3);
    expect(counts.update).toBe(updates + 1);
    const usedAt = clock.now();
    expect(await lastUse()).toEqual([usedAt, usedAt, usedAt]);
    expect(await apiKeys.flushLastUse()).toBe(0);
    expect(counts.update).toBe(updates + 1);

    // A later flush carrying an older time (another instance's clock, say) never lowers the column.
    clock.advance(-500);
    await apiKeys.verifyApiKey(keys[0]!.key);
    await apiKeys.flushLastUse();
    expect((await apiKeys.getApiKey(keys[0]!.record.id)).lastUsedAt).toBe(usedAt);
    clock.advance(1000);
    await apiKeys.verifyApiKey(keys[1]!.key);
    await apiKeys.close();
    expect((await apiKeys.getApiKey(keys[1]!.record.id)).lastUsedAt).toBe(clock.now());
  });

  it('records authn_api_key_success and authn_api_key_fail with reason and ip, never the presented key or its hash', async () => {
    const sink = capturingSink();
    const apiKeys = service({ audit: sink });
    const issued = await apiKeys.issueApiKey(user(), 'a', 'k');
    sink.events.length = 0;
    const unknown = generateIssuedKey();
    await apiKeys.verifyApiKey(issued.key, { ip: '192.0.2.10', requestId: 'r-1' });
    await apiKeys.verifyApiKey(unknown, { ip: '192.0.2.11' });
    await apiKeys.verifyApiKey('garbage', { ip: '192.0.2.12' });
    expect(sink.events).toEqual([
      expect.objectContaining({ type: 'authn_api_key_success', severity: 'info', actor: { type: 'api_key', id: issued.record.id }, sourceIp: '192.0.2.10', requestId: 'r-1' }),
      expect.objectContaining({ type: 'authn_api_key_fail', severity: 'warning', outcome: 'failure', sourceIp: '192.0.2.11', metadata: { reason: 'unknown' } }),
      expect.objectContaining({ type: 'authn_api_key_fail', severity: 'warning', sourceIp: '192.0.2.12', metadata: { reason: 'malformed' } }),
    ]);
    const row = await get().db.selectFrom('api_keys').select('lookup_hash').where('id', '=', issued.record.id).executeTakeFirstOrThrow();
    const dump = JSON.stringify(sink.events);
    for (const secret of [issued.key, unknown, row.lookup_hash, issued.key.slice(12)]) expect(dump).not.toContain(secret);
    await apiKeys.close();
  });

  it('random strings never verify and never throw: every answer is a refusal result (property)', async () => {
    const apiKeys = service();
    const issuedLike = fc.stringMatching(/^afk_[0-9A-Za-z]{49}$/);
    const printable = fc.stringMatching(/^[\x21-\x7e]{16,80}$/);
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 200 }), issuedLike, printable, fc.anything()), async (presented) => {
        const result = await apiKeys.verifyApiKey(presented);
        return result.ok === false && ['malformed', 'unknown'].includes(result.reason);
      }),
      { numRuns: 300 },
    );
    await apiKeys.close();
  });
});
