import { beforeAll, expect, it } from 'vitest';
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
import { createApiKeyStore } from '../../src/api-keys/api-key-store.js';
import { createPermissionEvaluator } from '../../src/permissions/evaluator.js';

/** A complete hash-only row, for driving the store directly. */
function stubRow(id: string) {
  return {
    id, user_id: 'stub', service: 'stub', key_name: 'stub', label: null, role: 'user', permissions: null, key_prefix: 'afk_stub',
    lookup_hash: randomBytes(32).toString('hex'), encrypted_value: null, auth_tag: null, key_version: null,
    rotation_status: 'active' as const, rotated_at: null, previous_key_id: null, grace_expires_at: null, expires_at: null,
    last_used_at: null, revoked_at: null, revoked_reason: null, created_by: null, created_at: 0, updated_at: 0,
  };
}

const tables = resolveTableNames();
const HOUR = 60 * 60 * 1000;

/** An audit sink that keeps every event, for assertions. */
function capturingSink(): AuditSink & { events: AuditEventInput[] } {
  const events: AuditEventInput[] = [];
  return { events, record: (e) => void events.push(e) };
}

/** The same database through a plugin that counts the queries compiled for execution, by kind. */
function counting(db: Kysely<SecurityDatabase>) {
  const counts = { all: 0, select: 0, insert: 0, update: 0 };
  const plugin: KyselyPlugin = {
    transformQuery({ node }) {
      counts.all++;
      if (node.kind === 'SelectQueryNode') counts.select++;
      if (node.kind === 'InsertQueryNode') counts.insert++;
      if (node.kind === 'UpdateQueryNode') counts.update++;
      return node;
    },
    transformResult: async ({ result }) => result,
  };
  return { db: db.withPlugin(plugin), counts };
}

/**
 * The same database through a plugin that, once armed, runs `between` right after the next read
 * completes (the service's snapshot of the key) and before the service goes on to write: a
 * deterministic stand-in for another instance writing in between. `between` must use another
 * connection pool: the read's connection is still held while it runs.
 */
function interfering(db: Kysely<SecurityDatabase>, between: () => Promise<void>) {
  const reads = new WeakSet<object>();
  let armed = 0;
  const plugin: KyselyPlugin = {
    transformQuery({ node, queryId }) {
      if (node.kind === 'SelectQueryNode') reads.add(queryId);
      return node;
    },
    async transformResult({ result, queryId }) {
      if (armed > 0 && reads.has(queryId)) {
        armed--;
        await between();
      }
      return result;
    },
  };
  return { db: db.withPlugin(plugin), arm: (times = 1) => void (armed = times) };
}

const settle = <T>(p: Promise<T>) => p.then((value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }), (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }));

const value = () => `sk_test_${randomBytes(24).toString('base64url')}`;

describeEachDatabase('API-key service', (get) => {
  let encryptor: Encryptor;
  let lookupKey: KeyObject;
  const clock = manualClock();
  const service = (extra: Partial<ApiKeyServiceOptions> = {}) =>
    createApiKeyService({ db: get().db, tables, encryptor, lookupKey, clock: clock.now, logger: silentLogger, ...extra });
  const rowOf = (id: string) => get().db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const countRows = async () => Number((await get().db.selectFrom('api_keys').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    ({ encryptor, lookupKey } = await keyStack(get().db, tables));
  });

  it('addApiKey takes the spec’s five arguments and returns the record without the secret', async () => {
    const apiKeys = service();
    const secret = value();
    const record = await apiKeys.addApiKey('user-1', 'openai', 'default', secret, {
      label: 'My API Key',
      role: 'user',
      permissions: { reports: ['create', 'read', 'list'], insights: ['read', 'list'] },
    });
    expect(record).toMatchObject({
      userId: 'user-1', service: 'openai', keyName: 'default', label: 'My API Key', role: 'user',
      permissions: { reports: ['create', 'read', 'list'], insights: ['read', 'list'] },
      recoverable: true, rotationStatus: 'active', revokedAt: null, createdAt: clock.now(),
    });
    expect(record.keyPrefix).toBe(secret.slice(0, 8));
    expect(typeof record.keyVersion).toBe('number');
    expect(JSON.stringify(record)).not.toContain(secret.slice(8));
    for (const hidden of ['lookupHash', 'encryptedValue', 'authTag', 'value', 'keyValue']) expect(record).not.toHaveProperty(hidden);
    expect(await apiKeys.revealApiKey(record.id)).toBe(secret);
    await apiKeys.close();
  });

  it('the row holds no plaintext value: an envelope bound to the row and a keyed lookup hash', async () => {
    const apiKeys = service();
    const secret = value();
    const record = await apiKeys.addApiKey(`u-${randomUUID()}`, 'openai', 'default', secret);
    const row = await rowOf(record.id);
    expect(JSON.stringify(row)).not.toContain(secret.slice(8));
    expect(row.lookup_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(row.auth_tag!, 'base64url')).toHaveLength(16);
    expect(Number(row.key_version)).toBe(record.keyVersion);
    expect(Buffer.from(row.encrypted_value!, 'base64url').toString('latin1')).not.toContain(secret);
    await apiKeys.close();
  });

  it('a stored envelope does not decrypt when moved to another row, user or service', async () => {
    const apiKeys = service();
    const owner = `u-${randomUUID()}`;
    const a = await apiKeys.addApiKey(owner, 'openai', 'a', value());
    const b = await apiKeys.addApiKey(owner, 'openai', 'b', value());
    const source = await rowOf(a.id);
    await get().db.updateTable('api_keys')
      .set({ encrypted_value: source.encrypted_value, auth_tag: source.auth_tag, key_version: source.key_version })
      .where('id', '=', b.id).execute();
    await expect(apiKeys.revealApiKey(b.id)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED', message: 'decryption failed' });
    await get().db.updateTable('api_keys').set({ user_id: 'someone-else' }).where('id', '=', a.id).execute();
    await expect(apiKeys.revealApiKey(a.id)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    await get().db.updateTable('api_keys').set({ user_id: owner, service: 'anthropic' }).where('id', '=', a.id).execute();
    await expect(apiKeys.revealApiKey(a.id)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    await apiKeys.close();
  });

  it('a tampered tag or key-version column is a decryption failure with the fixed message', async () => {
    const apiKeys = service();
    const a = await apiKeys.addApiKey(`u-${randomUUID()}`, 'openai', 'a', value());
    const row = await rowOf(a.id);
    const tag = Buffer.from(row.auth_tag!, 'base64url');
    tag[0]! ^= 1;
    await get().db.updateTable('api_keys').set({ auth_tag: tag.toString('base64url') }).where('id', '=', a.id).execute();
    await expect(apiKeys.revealApiKey(a.id)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED', message: 'decryption failed' });
    await get().db.updateTable('api_keys').set({ auth_tag: row.auth_tag, key_version: Number(row.key_version) + 1 }).where('id', '=', a.id).execute();
    await expect(apiKeys.revealApiKey(a.id)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED', message: 'decryption failed' });
    await apiKeys.close();
  });

  it('issueApiKey returns the key once and stores it hash-only unless asked to keep it recoverable', async () => {
    const apiKeys = service();
    const owner = `u-${randomUUID()}`;
    const hashOnly = await apiKeys.issueApiKey(owner, 'agentflow', 'ci', { role: 'readonly' });
    expect(hashOnly.key).toMatch(/^afk_[0-9A-Za-z]{49}$/);
    expect(hashOnly.record).toMatchObject({ recoverable: false, keyVersion: null, keyPrefix: hashOnly.key.slice(0, 12), role: 'readonly' });
    const row = await rowOf(hashOnly.record.id);
    expect([row.encrypted_value, row.auth_tag, row.key_version]).toEqual([null, null, null]);
    expect(JSON.stringify(row)).not.toContain(hashOnly.key.slice(12));
    await expect(apiKeys.revealApiKey(hashOnly.record.id)).rejects.toMatchObject({ code: 'ERR_API_KEY_NOT_RECOVERABLE' });
    const kept = await apiKeys.issueApiKey(owner, 'agentflow', 'ci-2', { recoverable: true });
    expect(kept.record.recoverable).toBe(true);
    expect(await apiKeys.revealApiKey(kept.record.id, { reason: 'migration' })).toBe(kept.key);
    expect((await apiKeys.verifyApiKey(kept.key)).ok).toBe(true);
    await apiKeys.close();
  });

  it('storing the same value twice is refused with ERR_API_KEY_EXISTS', async () => {
    const apiKeys = service();
    const secret = value();
    await apiKeys.addApiKey(`u-${randomUUID()}`, 'openai', 'a', secret);
    const before = await countRows();
    await expect(apiKeys.addApiKey(`u-${randomUUID()}`, 'other', 'b', secret)).rejects.toMatchObject({ code: 'ERR_API_KEY_EXISTS' });
    expect(await countRows()).toBe(before);
    await apiKeys.close();
  });

  it('every invalid input to addApiKey gets a typed error, never echoes the value, and writes nothing', async () => {
    const { db, counts } = counting(get().db);
    const apiKeys = service({ db });
    const secret = value();
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', '')],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', 'short-value')],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', 'x'.repeat(4097))],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', `${secret} with spaces`)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', `${secret}\u00e9`)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', 42 as never)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', `afk_${secret}`)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('', 's', 'n', secret)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 'x'.repeat(256), 'n', secret)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', null as never, secret)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', secret, { label: 7 } as never)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', secret, { lable: 'typo' } as never)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', secret, { expiresAt: clock.now() - 1 })],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', secret, { expiresAt: 'tomorrow' } as never)],
      ['ERR_INVALID_INPUT', () => apiKeys.addApiKey('u', 's', 'n', secret, { role: 5 } as never)],
      ['ERR_UNKNOWN_ROLE', () => apiKeys.addApiKey('u', 's', 'n', secret, { role: 'superuser' })],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: ['reports'] } as never)],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: { reports: 'read' } } as never)],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: { reports: [] } })],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: { reports: ['read', 'read'] } })],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: { Reports: ['read'] } })],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: { reports: [1] } } as never)],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: JSON.parse('{"__proto__":["read"]}') })],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, ['read']])) })],
      ['ERR_INVALID_PERMISSIONS', () => apiKeys.addApiKey('u', 's', 'n', secret, { permissions: { reports: Array.from({ length: 33 }, (_, i) => `a${i}`) } })],
    ];
    for (const [code, call] of cases) {
      const error = await call().then(() => undefined, (e: unknown) => e);
      expect(error, code).toMatchObject({ code });
      expect(JSON.stringify({ ...(error as object), message: (error as Error).message })).not.toContain(secret);
    }
    expect(counts.insert).toBe(0);
    expect(counts.all).toBe(0);
    await apiKeys.close();
  });

  it('a validatePermissions hook receives the permissions and the role, replaces the default rules, and refuses with a code', async () => {
    const seen: unknown[][] = [];
    const apiKeys = service({
      validatePermissions: (permissions, role) => {
        seen.push([permissions, role]);
        if (Object.hasOwn(permissions, 'billing')) throw new Error('unknown resource billing');
      },
    });
    const user = `u-${randomUUID()}`;
    // The evaluator's policy allows what the default rules would refuse: an empty list (deny) and upper-case names.
    const record = await apiKeys.addApiKey(user, 'openai', 'k', value(), { role: 'manager', permissions: { reports: [], Insights: ['read'] } });
    expect(record.permissions).toEqual({ reports: [], Insights: ['read'] });
    expect(seen).toEqual([[{ reports: [], Insights: ['read'] }, 'manager']]);
    await expect(apiKeys.issueApiKey(user, 'a', 'k', { permissions: { billing: ['read'] } })).rejects.toMatchObject({ code: 'ERR_INVALID_PERMISSIONS' });
    await expect(apiKeys.updateApiKey(record.id, { role: 'user', permissions: { billing: ['read'] } })).rejects.toMatchObject({ code: 'ERR_INVALID_PERMISSIONS' });
    expect(seen.at(-1)).toEqual([{ billing: ['read'] }, 'user']);
    // The structure is checked before the hook ever runs.
    const calls = seen.length;
    await expect(apiKeys.issueApiKey(user, 'a', 'k', { permissions: { reports: 'read' } } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_PERMISSIONS' });
    expect(seen).toHaveLength(calls);
    await apiKeys.close();
  });

  it('getApiKey and listApiKeys filter by user, service, role and status, newest first, with a cursor', async () => {
    const apiKeys = service();
    const user = `u-${randomUUID()}`;
    const made = [];
    for (const [service, role] of [['openai', 'user'], ['openai', 'admin'], ['github', 'user'], ['github', 'readonly'], ['slack', 'manager']] as const) {
      made.push((await apiKeys.issueApiKey(user, service, 'k', { role, expiresAt: clock.now() + HOUR })).record);
      clock.advance(1);
    }
    await apiKeys.revokeApiKey(made[0]!.id, { reason: 'leaked' });
    const rotated = await apiKeys.rotateApiKey(made[1]!.id);
    await get().db.updateTable('api_keys').set({ rotation_status: 'pending_rotation' }).where('id', '=', made[2]!.id).execute();
    expect(await apiKeys.getApiKey(made[3]!.id)).toEqual(made[3]);
    await expect(apiKeys.getApiKey(randomUUID())).rejects.toMatchObject({ code: 'ERR_API_KEY_NOT_FOUND' });

    const ids = async (query: object) => (await apiKeys.listApiKeys({ userId: user, ...query })).items.map((r) => r.id);
    expect(await ids({})).toEqual([rotated.record.id, ...made.map((r) => r.id).reverse()]);
    expect(await ids({ service: 'github' })).toEqual([made[3]!.id, made[2]!.id]);
    expect(await ids({ role: 'admin' })).toEqual([rotated.record.id, made[1]!.id]);
    expect(await ids({ status: 'revoked' })).toEqual([made[0]!.id]);
    expect(await ids({ status: 'rotated' })).toEqual([made[1]!.id]);
    expect(await ids({ status: 'pending_rotation' })).toEqual([made[2]!.id]);
    expect(await ids({ status: 'active' })).toEqual([rotated.record.id, made[4]!.id, made[3]!.id]);
    expect(await ids({ status: 'expired' })).toEqual([]);
    clock.advance(HOUR);
    expect(await ids({ status: 'expired' })).toEqual([rotated.record.id, made[4]!.id, made[3]!.id, made[2]!.id]);
    expect(await ids({ status: 'active' })).toEqual([]);

    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await apiKeys.listApiKeys({ userId: user, limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      paged.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(paged).toEqual(await ids({}));
    await expect(apiKeys.listApiKeys({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(apiKeys.listApiKeys({ role: 'root' })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_ROLE' });
    await expect(apiKeys.listApiKeys({ status: 'deleted' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await apiKeys.close();
  });

  it('updateApiKey changes label, role, permissions and expiry; an invalid update writes nothing', async () => {
    const { db, counts } = counting(get().db);
    const apiKeys = service({ db });
    const { record } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'k');
    clock.advance(5);
    const updated = await apiKeys.updateApiKey(record.id, { label: 'renamed', role: 'manager', permissions: { reports: ['read'] }, expiresAt: new Date(clock.now() + HOUR) });
    expect(updated).toMatchObject({ label: 'renamed', role: 'manager', permissions: { reports: ['read'] }, expiresAt: clock.now() + HOUR, updatedAt: clock.now() });
    const cleared = await apiKeys.updateApiKey(record.id, { permissions: null, expiresAt: null, label: null });
    expect(cleared).toMatchObject({ label: null, permissions: null, expiresAt: null, role: 'manager' });

    const before = await rowOf(record.id);
    const updatesBefore = counts.update;
    const cases: Array<[string, unknown]> = [
      ['ERR_INVALID_INPUT', {}],
      ['ERR_INVALID_INPUT', { nickname: 'x' }],
      ['ERR_INVALID_INPUT', { label: '' }],
      ['ERR_INVALID_INPUT', { label: 'x'.repeat(256) }],
      ['ERR_INVALID_INPUT', { expiresAt: clock.now() }],
      ['ERR_INVALID_INPUT', { expiresAt: -1 }],
      ['ERR_INVALID_INPUT', 'label'],
      ['ERR_UNKNOWN_ROLE', { role: 'owner' }],
      ['ERR_INVALID_PERMISSIONS', { permissions: { reports: ['read'], insights: 'all' } }],
      ['ERR_INVALID_PERMISSIONS', { permissions: 'admin' }],
    ];
    for (const [code, patch] of cases) {
      await expect(apiKeys.updateApiKey(record.id, patch as never), JSON.stringify(patch)).rejects.toMatchObject({ code });
    }
    await expect(apiKeys.updateApiKey(randomUUID(), { label: 'x' })).rejects.toMatchObject({ code: 'ERR_API_KEY_NOT_FOUND' });
    expect(counts.update).toBe(updatesBefore);
    expect(await rowOf(record.id)).toEqual(before);
    await apiKeys.revokeApiKey(record.id);
    await expect(apiKeys.updateApiKey(record.id, { label: 'late' })).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE' });
    await apiKeys.close();
  });

  it('revokeApiKey keeps the row, sets revoked_at and the reason, erases the envelope, and is idempotent', async () => {
    const apiKeys = service();
    const record = await apiKeys.addApiKey(`u-${randomUUID()}`, 'openai', 'k', value());
    const revoked = await apiKeys.revokeApiKey(record.id, { reason: 'user deleted it' });
    expect(revoked).toMatchObject({ id: record.id, revokedAt: clock.now(), revokedReason: 'user deleted it', recoverable: false });
    const row = await rowOf(record.id);
    expect([row.encrypted_value, row.auth_tag, row.key_version]).toEqual([null, null, null]);
    clock.advance(10);
    expect(await apiKeys.revokeApiKey(record.id, { reason: 'again' })).toEqual(revoked);
    await expect(apiKeys.revealApiKey(record.id)).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE' });
    await expect(apiKeys.revokeApiKey(randomUUID())).rejects.toMatchObject({ code: 'ERR_API_KEY_NOT_FOUND' });
    await apiKeys.close();
  });

  it('rotateApiKey issues a successor with the same owner and grants and marks the old key rotated', async () => {
    const apiKeys = service({ rotationGracePeriodMs: HOUR });
    const user = `u-${randomUUID()}`;
    const old = await apiKeys.issueApiKey(user, 'agentflow', 'deploy', { role: 'manager', permissions: { reports: ['read'] }, label: 'deploy key', recoverable: true });
    clock.advance(7);
    const rotated = await apiKeys.rotateApiKey(old.record.id);
    expect(rotated.key).not.toBe(old.key);
    expect(rotated.record).toMatchObject({
      userId: user, service: 'agentflow', keyName: 'deploy', label: 'deploy key', role: 'manager',
      permissions: { reports: ['read'] }, previousKeyId: old.record.id, rotationStatus: 'active', recoverable: true,
    });
    expect(rotated.previous).toMatchObject({ id: old.record.id, rotationStatus: 'rotated', rotatedAt: clock.now(), graceExpiresAt: clock.now() + HOUR });
    expect(await apiKeys.revealApiKey(rotated.record.id)).toBe(rotated.key);
    await expect(apiKeys.rotateApiKey(old.record.id)).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE' });
    await apiKeys.revokeApiKey(rotated.record.id);
    await expect(apiKeys.rotateApiKey(rotated.record.id)).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE' });
    await expect(apiKeys.rotateApiKey(randomUUID())).rejects.toMatchObject({ code: 'ERR_API_KEY_NOT_FOUND' });
    await apiKeys.close();
  });

  it('two instances rotating one key at once: one succeeds, the other gets ERR_API_KEY_INVALID_STATE', async () => {
    const other = await get().openAnother();
    const a = service();
    const b = service({ db: other.db });
    const { record } = await a.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'race');
    // better-sqlite3 is synchronous: two connections in one process would wait for each other's
    // write lock on the only thread (real instances are separate processes), so SQLite runs them
    // one after the other; PostgreSQL and MySQL run them truly at once.
    const outcomes = get().dialect === 'sqlite'
      ? [await settle(a.rotateApiKey(record.id)), await settle(b.rotateApiKey(record.id))]
      : await Promise.allSettled([a.rotateApiKey(record.id), b.rotateApiKey(record.id)]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const failure = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(failure.reason).toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE' });
    const successors = await get().db.selectFrom('api_keys').select('id').where('previous_key_id', '=', record.id).execute();
    expect(successors).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('the rotation guard refuses, inside its transaction, a key already rotated, revoked, expired or changed since read, and writes nothing', async () => {
    const apiKeys = service();
    const store = createApiKeyStore(get().db, tables);
    // The row's current updated_at, so that only the status guards (or, last, a stale snapshot) refuse.
    const stamp = async (id: string) => Number((await rowOf(id)).updated_at);
    const { record } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'guard', { expiresAt: clock.now() + HOUR });
    const successor = (id: string) => ({ ...stubRow(id), previous_key_id: record.id, created_at: clock.now(), updated_at: clock.now() });
    const rotate = async (id: string, row: ReturnType<typeof successor>, now = clock.now(), expected?: number) =>
      store.rotate(id, expected ?? (await stamp(id)), row, now, now + 1, now + 1);
    expect(await rotate(record.id, successor(randomUUID()))).toBe(true);
    const lost = randomUUID();
    expect(await rotate(record.id, successor(lost))).toBe(false);
    const { record: other } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'guard', { expiresAt: clock.now() + HOUR });
    await apiKeys.revokeApiKey(other.id);
    expect(await rotate(other.id, successor(lost))).toBe(false);
    const { record: third } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'guard', { expiresAt: clock.now() + 5 });
    expect(await rotate(third.id, successor(lost), clock.now() + 5)).toBe(false);
    const { record: fourth } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'guard');
    const before = await rowOf(fourth.id);
    expect(await rotate(fourth.id, successor(lost), clock.now(), fourth.updatedAt - 1)).toBe(false);
    expect(await rowOf(fourth.id)).toEqual(before);
    expect(await get().db.selectFrom('api_keys').select('id').where('id', '=', lost).executeTakeFirst()).toBeUndefined();
    await apiKeys.close();
  });

  it('every operation records its audit event, and no event holds a value, hash or envelope', async () => {
    const sink = capturingSink();
    const apiKeys = service({ audit: sink });
    const actor = { id: 'admin-7', role: 'admin' };
    const secret = value();
    const added = await apiKeys.addApiKey(`u-${randomUUID()}`, 'openai', 'k', secret, { actor, sourceIp: '203.0.113.9', requestId: 'req-1' });
    const issued = await apiKeys.issueApiKey(added.userId, 'agentflow', 'k', { actor, recoverable: true });
    await apiKeys.getApiKey(added.id, { actor });
    await apiKeys.listApiKeys({ userId: added.userId }, { actor });
    await apiKeys.updateApiKey(added.id, { label: 'x' }, { actor });
    expect(await apiKeys.revealApiKey(added.id, { actor, reason: 'support ticket 12' })).toBe(secret);
    const rotated = await apiKeys.rotateApiKey(issued.record.id, { actor });
    await apiKeys.revokeApiKey(added.id, { actor, reason: 'done' });
    await apiKeys.verifyApiKey(rotated.key, { ip: '198.51.100.1' });
    await apiKeys.verifyApiKey(secret, { ip: '198.51.100.1' });
    await expect(apiKeys.getApiKey(randomUUID(), { actor })).rejects.toMatchObject({ code: 'ERR_API_KEY_NOT_FOUND' });

    const types = sink.events.map((e) => `${e.type}:${e.outcome}`);
    expect(types).toEqual([
      'authn_token_created:success', 'authn_token_created:success', 'authn_token_read:success', 'authn_token_listed:success',
      'authn_token_updated:success', 'authn_token_revealed:success', 'authn_token_rotated:success', 'authn_token_revoked:success',
      'authn_api_key_success:success', 'authn_api_key_fail:failure', 'authn_token_read:failure',
    ]);
    const revealed = sink.events.find((e) => e.type === 'authn_token_revealed')!;
    expect(revealed).toMatchObject({ severity: 'warning', actor: { type: 'user', id: 'admin-7' }, resource: 'api_keys', metadata: { keyId: added.id, reason: 'support ticket 12' } });
    expect(sink.events[0]).toMatchObject({ severity: 'info', sourceIp: '203.0.113.9', requestId: 'req-1', metadata: { keyId: added.id } });
    expect(sink.events.find((e) => e.type === 'authn_api_key_fail')).toMatchObject({ severity: 'warning', sourceIp: '198.51.100.1', metadata: { reason: 'revoked', keyId: added.id } });
    const rows = await get().db.selectFrom('api_keys').selectAll().where('user_id', '=', added.userId).execute();
    const dump = JSON.stringify(sink.events);
    for (const secretish of [secret, issued.key, rotated.key, ...rows.flatMap((r) => [r.lookup_hash, r.encrypted_value, r.auth_tag])]) {
      if (secretish) expect(dump).not.toContain(secretish);
    }
    await apiKeys.close();
  });

  it('the escalation check receives actor and target on create, issue, update and rotate, and a refusal writes nothing', async () => {
    const calls: unknown[][] = [];
    const sink = capturingSink();
    let refuse = false;
    const apiKeys = service({
      audit: sink,
      assertCanGrant: (...args) => {
        calls.push(args);
        if (refuse) throw new Error('manager may not grant admin');
      },
    });
    const actor = { id: 'mgr-1', role: 'manager', permissions: { api_keys: ['create'] } };
    const user = `u-${randomUUID()}`;
    const added = await apiKeys.addApiKey(user, 'openai', 'k', value(), { actor, role: 'readonly' });
    const issued = await apiKeys.issueApiKey(user, 'agentflow', 'k', { actor, role: 'user', permissions: { reports: ['read'] } });
    await apiKeys.updateApiKey(issued.record.id, { role: 'readonly' }, { actor });
    await apiKeys.rotateApiKey(added.id, { actor });
    await apiKeys.issueApiKey(user, 'agentflow', 'no-actor');
    // The actor object itself, so the evaluator sees everything its principal carries.
    for (const call of calls) expect(call[0]).toBe(actor);
    const expectedActor = actor;
    expect(calls).toEqual([
      [expectedActor, { role: 'readonly', permissions: null }],
      [expectedActor, { role: 'user', permissions: { reports: ['read'] } }],
      [expectedActor, { role: 'readonly', permissions: { reports: ['read'] } }, { role: 'user', permissions: { reports: ['read'] } }],
      [expectedActor, { role: 'readonly', permissions: null }, { role: 'readonly', permissions: null }],
    ]);

    // An API-key record can act too (a key with api_keys:create issuing another); it is recorded as such.
    const { record: asActor } = await apiKeys.issueApiKey(user, 'agentflow', 'actor-key', { role: 'manager' });
    const child = await apiKeys.issueApiKey(user, 'agentflow', 'child', { actor: { ...asActor, type: 'api_key' }, role: 'readonly' });
    expect(child.record.createdBy).toBe(asActor.id);
    expect(calls.at(-1)![0]).toMatchObject({ id: asActor.id, role: 'manager', type: 'api_key' });
    expect(sink.events.at(-1)).toMatchObject({ type: 'authn_token_created', actor: { type: 'api_key', id: asActor.id } });

    refuse = true;
    const before = await countRows();
    const row = await rowOf(issued.record.id);
    for (const attempt of [
      () => apiKeys.issueApiKey(user, 'agentflow', 'x', { actor, role: 'admin' }),
      () => apiKeys.addApiKey(user, 'openai', 'x', value(), { actor, role: 'admin' }),
      () => apiKeys.updateApiKey(issued.record.id, { role: 'admin' }, { actor }),
      () => apiKeys.rotateApiKey(issued.record.id, { actor }),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    }
    expect(await countRows()).toBe(before);
    expect(await rowOf(issued.record.id)).toEqual(row);
    expect(sink.events.filter((e) => e.type === 'authz_escalation_denied')).toHaveLength(4);
    await apiKeys.close();
  });

  it('plugs into the permission evaluator’s assertCanGrant as is: a manager cannot issue or rotate an admin key', async () => {
    const evaluator = createPermissionEvaluator({ logger: silentLogger });
    const apiKeys = service({ assertCanGrant: evaluator.assertCanGrant });
    const manager = { id: 'mgr-2', role: 'manager' };
    const user = `u-${randomUUID()}`;
    const ok = await apiKeys.issueApiKey(user, 'agentflow', 'k', { actor: manager, role: 'user', permissions: { reports: ['read'] } });
    expect(ok.record.createdBy).toBe('mgr-2');
    await expect(apiKeys.issueApiKey(user, 'agentflow', 'k', { actor: manager, role: 'admin' })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    await expect(apiKeys.updateApiKey(ok.record.id, { permissions: { users: ['delete'] } }, { actor: manager })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    const adminKey = await apiKeys.issueApiKey(user, 'agentflow', 'k', { actor: { id: 'root', role: 'admin' }, role: 'admin' });
    await expect(apiKeys.rotateApiKey(adminKey.record.id, { actor: manager })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    await apiKeys.close();
  });

  it('reveal and revoke call the escalation check with what the key holds, before decrypting or writing anything', async () => {
    const calls: unknown[][] = [];
    const sink = capturingSink();
    let decrypts = 0;
    const spied: Encryptor = {
      encrypt: (plaintext, context) => encryptor.encrypt(plaintext, context),
      encryptToString: (plaintext, context) => encryptor.encryptToString(plaintext, context),
      decrypt: (envelope, context) => encryptor.decrypt(envelope, context),
      decryptToString: (envelope, context) => {
        decrypts++;
        return encryptor.decryptToString(envelope, context);
      },
      clearCache: () => encryptor.clearCache(),
    };
    let refuse = false;
    const apiKeys = service({
      audit: sink,
      encryptor: spied,
      assertCanGrant: (...args) => {
        calls.push(args);
        if (refuse) throw new Error('the actor holds less than the key');
      },
    });
    const actor = { id: 'mgr-3', role: 'manager' };
    const secret = value();
    const record = await apiKeys.addApiKey(`u-${randomUUID()}`, 'openai', 'k', secret, { role: 'admin', permissions: { reports: ['read'] } });
    const held = { role: 'admin', permissions: { reports: ['read'] } };

    refuse = true;
    const row = await rowOf(record.id);
    await expect(apiKeys.revealApiKey(record.id, { actor, reason: 'take it over' })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    await expect(apiKeys.revokeApiKey(record.id, { actor, reason: 'disable it' })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    expect(decrypts).toBe(0);
    expect(await rowOf(record.id)).toEqual(row);
    expect((await apiKeys.verifyApiKey(secret)).ok).toBe(true);
    expect(calls).toEqual([[actor, held, held], [actor, held, held]]);
    for (const call of calls) expect(call[0]).toBe(actor);
    expect(sink.events.filter((e) => e.type === 'authz_escalation_denied').map((e) => e.action)).toEqual(['reveal', 'revoke']);

    refuse = false;
    expect(await apiKeys.revealApiKey(record.id, { actor })).toBe(secret);
    expect(decrypts).toBe(1);
    expect(await apiKeys.revokeApiKey(record.id, { actor })).toMatchObject({ revokedAt: clock.now() });
    // Without an actor the call is the system's: no check.
    const before = calls.length;
    const other = await apiKeys.addApiKey(`u-${randomUUID()}`, 'openai', 'k', value(), { role: 'admin' });
    await apiKeys.revealApiKey(other.id);
    await apiKeys.revokeApiKey(other.id);
    expect(calls).toHaveLength(before);
    await apiKeys.close();
  });

  it('with the permission evaluator, a manager can neither reveal nor revoke an admin key, but can its own level', async () => {
    const evaluator = createPermissionEvaluator({ logger: silentLogger });
    const apiKeys = service({ assertCanGrant: evaluator.assertCanGrant });
    const manager = { id: 'mgr-4', role: 'manager' };
    const admin = { id: 'root', role: 'admin' };
    const user = `u-${randomUUID()}`;
    const adminKey = await apiKeys.issueApiKey(user, 'agentflow', 'k', { actor: admin, role: 'admin', recoverable: true });
    await expect(apiKeys.revealApiKey(adminKey.record.id, { actor: manager })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    await expect(apiKeys.revokeApiKey(adminKey.record.id, { actor: manager })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    expect(await apiKeys.getApiKey(adminKey.record.id)).toMatchObject({ revokedAt: null, recoverable: true });
    expect(await apiKeys.revealApiKey(adminKey.record.id, { actor: admin })).toBe(adminKey.key);
    const userKey = await apiKeys.issueApiKey(user, 'agentflow', 'k', { actor: manager, role: 'user', recoverable: true });
    expect(await apiKeys.revealApiKey(userKey.record.id, { actor: manager })).toBe(userKey.key);
    expect(await apiKeys.revokeApiKey(userKey.record.id, { actor: manager })).toMatchObject({ revokedAt: clock.now() });
    expect(await apiKeys.revokeApiKey(adminKey.record.id, { actor: admin })).toMatchObject({ revokedAt: clock.now() });
    await apiKeys.close();
  });

  it('every write moves updated_at forward, also twice in one millisecond or with a clock that went back', async () => {
    const apiKeys = service();
    const { record } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'k');
    const first = await apiKeys.updateApiKey(record.id, { label: 'a' });
    const second = await apiKeys.updateApiKey(record.id, { label: 'a' });
    expect([first.updatedAt, second.updatedAt]).toEqual([record.updatedAt + 1, record.updatedAt + 2]);
    const behind = service({ clock: () => clock.now() - 1000 });
    const third = await behind.updateApiKey(record.id, { label: 'b' });
    expect(third.updatedAt).toBe(second.updatedAt + 1);
    const rotated = await behind.rotateApiKey(record.id);
    expect(rotated.previous.updatedAt).toBe(third.updatedAt + 1);
    const revoked = await apiKeys.revokeApiKey(rotated.previous.id);
    expect(revoked.updatedAt).toBe(rotated.previous.updatedAt + 1);
    await Promise.all([apiKeys.close(), behind.close()]);
  });

  it('updateApiKey refuses, writing nothing, when the key changed between its read and its write', async () => {
    const other = await get().openAnother();
    // Another instance with the same clock: its write lands in the very millisecond of the snapshot.
    const b = service({ db: other.db });
    let between = async () => {};
    const { db, arm } = interfering(get().db, () => between());
    const evaluator = createPermissionEvaluator({ logger: silentLogger });
    const a = service({ db, assertCanGrant: evaluator.assertCanGrant });
    const manager = { id: 'mgr-5', role: 'manager' };
    const { record } = await b.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'k', { role: 'user' });

    // The manager's check passes against the snapshot (a user key); meanwhile an admin raises the key to admin.
    between = async () => void (await b.updateApiKey(record.id, { role: 'admin' }, { actor: { id: 'root', role: 'admin' } }));
    arm();
    const error = await a.updateApiKey(record.id, { permissions: { reports: ['read'] } }, { actor: manager }).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE', details: { reason: 'concurrent_update' } });
    const raised = await rowOf(record.id);
    expect(raised).toMatchObject({ role: 'admin', permissions: null });
    // Read again, the manager's check now sees the admin key and refuses.
    await expect(a.updateApiKey(record.id, { permissions: { reports: ['read'] } }, { actor: manager })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });

    // Revoked in between: the state, not a conflict.
    between = async () => void (await b.revokeApiKey(record.id));
    arm();
    await expect(a.updateApiKey(record.id, { label: 'late' })).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE', details: { state: 'revoked' } });
    expect(await a.getApiKey(record.id)).toMatchObject({ label: null, revokedAt: clock.now() });
    await Promise.all([a.close(), b.close()]);
  });

  it('rotateApiKey refuses, writing neither the successor nor the old key, when the key changed between its read and its write', async () => {
    const other = await get().openAnother();
    const b = service({ db: other.db });
    let between = async () => {};
    const { db, arm } = interfering(get().db, () => between());
    const a = service({ db });
    const { record } = await b.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'k', { role: 'admin' });

    // Demoted in the same millisecond as the snapshot: a successor copied from it would be an admin key again.
    between = async () => void (await b.updateApiKey(record.id, { role: 'readonly' }));
    arm();
    const error = await a.rotateApiKey(record.id).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE', details: { reason: 'concurrent_update' } });
    expect(await rowOf(record.id)).toMatchObject({ role: 'readonly', rotation_status: 'active', rotated_at: null });
    const successors = () => get().db.selectFrom('api_keys').select(['id', 'role']).where('previous_key_id', '=', record.id).execute();
    expect(await successors()).toEqual([]);

    // Retried, the successor copies what the key holds now.
    const rotated = await a.rotateApiKey(record.id);
    expect(rotated.record.role).toBe('readonly');
    expect(await successors()).toEqual([{ id: rotated.record.id, role: 'readonly' }]);

    // Rotated or revoked in between: the state, not a conflict.
    between = async () => void (await b.rotateApiKey(rotated.record.id));
    arm();
    await expect(a.rotateApiKey(rotated.record.id)).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE', details: { state: 'rotated' } });
    const { record: third } = await b.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'k');
    between = async () => void (await b.revokeApiKey(third.id));
    arm();
    await expect(a.rotateApiKey(third.id)).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE', details: { state: 'revoked' } });
    expect(await get().db.selectFrom('api_keys').select('id').where('previous_key_id', 'in', [rotated.record.id, third.id]).execute()).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('revokeApiKey checks the key as it writes it: raised in between, it is read, checked and refused', async () => {
    const other = await get().openAnother();
    let between = async () => {};
    const { db, arm } = interfering(get().db, () => between());
    const evaluator = createPermissionEvaluator({ logger: silentLogger });
    const apiKeys = service({ db, assertCanGrant: evaluator.assertCanGrant });
    const manager = { id: 'mgr-6', role: 'manager' };
    const { record, key } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'k', { role: 'user' });

    // Raised to admin directly in the table, after the manager's check passed on a user key.
    between = async () => void (await other.db.updateTable('api_keys').set({ role: 'admin', updated_at: record.updatedAt + 1 }).where('id', '=', record.id).execute());
    arm();
    await expect(apiKeys.revokeApiKey(record.id, { actor: manager })).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    expect(await rowOf(record.id)).toMatchObject({ role: 'admin', revoked_at: null });
    expect((await apiKeys.verifyApiKey(key)).ok).toBe(true);

    // A change that does not matter to the check (a label) is read again and the revocation goes through.
    const admin = { id: 'root', role: 'admin' };
    const label = createApiKeyService({ db: other.db, tables, encryptor, lookupKey, clock: clock.now, logger: silentLogger });
    between = async () => void (await label.updateApiKey(record.id, { label: 'renamed' }));
    arm();
    expect(await apiKeys.revokeApiKey(record.id, { actor: admin, reason: 'leaked' })).toMatchObject({ label: 'renamed', revokedAt: clock.now(), revokedReason: 'leaked' });

    // A key that keeps changing: a conflict after a few attempts, and nothing written.
    const { record: busy } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'k');
    let n = 0;
    between = async () => void (await label.updateApiKey(busy.id, { label: `l${n++}` }));
    arm(100);
    await expect(apiKeys.revokeApiKey(busy.id, { actor: admin })).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID_STATE', details: { reason: 'concurrent_update' } });
    expect(await rowOf(busy.id)).toMatchObject({ revoked_at: null });
    arm(0);

    // Revoked by another instance in between: the revocation stands, as on a second call.
    const { record: twice } = await apiKeys.issueApiKey(`u-${randomUUID()}`, 'agentflow', 'k');
    between = async () => void (await label.revokeApiKey(twice.id, { reason: 'first' }));
    arm();
    expect(await apiKeys.revokeApiKey(twice.id, { reason: 'second' })).toMatchObject({ revokedReason: 'first' });
    await Promise.all([apiKeys.close(), label.close()]);
  });

  it('the audit row names a database failure ERR_STORAGE_FAILURE and anything not a library error unexpected_error', async () => {
    const sink = capturingSink();
    const broken: Encryptor = {
      encrypt: () => Promise.reject(new TypeError('a bug in the host encryptor')),
      encryptToString: () => Promise.reject(new TypeError('unused')),
      decrypt: (envelope, context) => encryptor.decrypt(envelope, context),
      decryptToString: (envelope, context) => encryptor.decryptToString(envelope, context),
      clearCache: () => undefined,
    };
    const apiKeys = service({ audit: sink, encryptor: broken });
    await expect(apiKeys.addApiKey(`u-${randomUUID()}`, 'openai', 'k', value())).rejects.toBeInstanceOf(TypeError);
    expect(sink.events.at(-1)).toMatchObject({ type: 'authn_token_created', outcome: 'failure', severity: 'error', metadata: { errorCode: 'unexpected_error' } });

    const failing: KyselyPlugin = {
      transformQuery: ({ node }) => node,
      transformResult: () => Promise.reject(new Error('connection reset')),
    };
    const down = service({ audit: sink, db: get().db.withPlugin(failing) });
    await expect(down.getApiKey(randomUUID())).rejects.toMatchObject({ code: 'ERR_STORAGE_FAILURE' });
    expect(sink.events.at(-1)).toMatchObject({ type: 'authn_token_read', outcome: 'failure', severity: 'error', metadata: { errorCode: 'ERR_STORAGE_FAILURE' } });
    await expect(apiKeys.getApiKey(randomUUID())).rejects.toMatchObject({ code: 'ERR_API_KEY_NOT_FOUND' });
    expect(sink.events.at(-1)).toMatchObject({ severity: 'warning', metadata: { errorCode: 'ERR_API_KEY_NOT_FOUND' } });
    await Promise.all([apiKeys.close(), down.close()]);
  });

  it('refuses invalid options once, at creation', () => {
    const base = { db: get().db, tables, encryptor, lookupKey };
    for (const bad of [
      { keyPrefix: 'AFK' },
      { keyPrefix: 'a' },
      { roles: [] },
      { roles: ['user', 'user'] },
      { verifyCache: { ttlMs: 0 } },
      { lastUseFlushIntervalMs: 10 },
      { lookupKey: 'secret' },
      { surprise: true },
    ]) {
      expect(() => createApiKeyService({ ...base, ...bad } as never), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
    }
  });
});
