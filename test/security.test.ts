import { expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { describeEachDatabase } from './helpers/databases.js';
import { createSecurity, type Security } from '../src/security.js';
import { dropSecurityTables } from '../src/storage/migrations.js';
import { resolveTableNames } from '../src/storage/table-names.js';
import { isSecurityError } from '../src/core/errors.js';
import type { Logger } from '../src/core/logger.js';

/** A logger that keeps every line, so tests can search it for secrets. */
function capturingLogger() {
  const lines: string[] = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push(`${level} ${msg} ${JSON.stringify(obj)}`);
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  return { logger, lines };
}

/** Every encoding a secret could leak in. */
function forms(secret: string | Buffer): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const out = [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url').replace(/=+$/, '')];
  if (typeof secret === 'string') out.push(secret);
  return out;
}

async function dumpTables(security: Security): Promise<string> {
  const { db, tables } = security;
  const dump: Record<string, unknown> = {};
  for (const table of [tables.apiKeys, tables.auditLogs, tables.keyVersions, tables.secrets, tables.alerts, tables.jobLeases] as const) {
    dump[table] = await db.selectFrom(table).selectAll().execute();
  }
  return JSON.stringify(dump);
}

describeEachDatabase('createSecurity', (get) => {
  const rootKey = randomBytes(32);
  const env = { ENCRYPTION_KEY: rootKey.toString('base64'), NODE_ENV: 'test' };

  it('wires the parts: the spec’s addApiKey, verification, permissions and the audit log, on one database', async () => {
    const { logger } = capturingLogger();
    const security = await createSecurity({ database: get().db, env, logger });
    try {
      const userId = 'user-spec';
      const record = await security.addApiKey(userId, 'openai', 'default', `sk-spec-${randomBytes(16).toString('hex')}`, {
        label: 'My API Key',
        role: 'user',
        permissions: { reports: ['create', 'read', 'list'], insights: ['read', 'list'] },
      });
      expect(record).toMatchObject({ userId, service: 'openai', keyName: 'default', label: 'My API Key', role: 'user', rotationStatus: 'active' });
      expect(record).not.toHaveProperty('keyValue');

      const { key, record: issued } = await security.apiKeys.issueApiKey(userId, 'agentflow', 'ci', { role: 'readonly' });
      const verified = await security.verifyApiKey(key, { ip: '203.0.113.9' });
      expect(verified.ok).toBe(true);
      const principal = security.permissions.compilePrincipal(verified.ok ? verified.key : issued);
      expect(security.permissions.can(principal, 'reports', 'list').allowed).toBe(true);
      expect(security.permissions.can(principal, 'reports', 'delete')).toMatchObject({ allowed: false, reason: 'role_denied' });

      await security.audit.flush();
      const { events } = await security.audit.query({ types: ['authn_token_created', 'authn_api_key_success', 'authz_fail'] });
      const types = events.map((e) => e.eventType);
      expect(types).toEqual(expect.arrayContaining(['authn_token_created', 'authn_api_key_success', 'authz_fail']));
      expect(events.find((e) => e.eventType === 'authz_fail')).toMatchObject({ severity: 'warning', resource: 'reports', action: 'delete' });
    } finally {
      await security.close();
    }
  });

  it('grants are written as one summary event per resource and action, not one row per check', async () => {
    const security = await createSecurity({ database: get().db, env, logger: capturingLogger().logger });
    const reader = security.permissions.compilePrincipal({ role: 'readonly', id: 'summary-key' });
    for (let i = 0; i < 500; i++) security.permissions.can(reader, 'insights', 'read');
    const before = Date.now();
    await security.close();
    const { events } = await security.audit.query({ types: ['authz_grant'], from: before - 60_000 });
    const summary = events.filter((e) => e.resource === 'insights' && e.action === 'read' && e.metadata?.['grants'] === 500);
    expect(summary).toHaveLength(1);
  });

  it('no key value, data key or plaintext reaches a row, an error or a log line', async () => {
    const { logger, lines } = capturingLogger();
    const errors: string[] = [];
    const hostValue = `sk-live-${randomBytes(24).toString('hex')}`;
    const plaintext = `plaintext-${randomBytes(12).toString('hex')}`;
    const metadataSecret = `metadata-secret-${randomBytes(12).toString('hex')}`;
    const security = await createSecurity({ database: get().db, env, logger });
    const secrets: Array<string | Buffer> = [hostValue, plaintext, metadataSecret, rootKey];
    const keep = async <T>(promise: Promise<T>): Promise<T | undefined> => {
      try {
        return await promise;
      } catch (error) {
        errors.push(`${String(error)} ${JSON.stringify(error)} ${isSecurityError(error) ? JSON.stringify(error.details) : ''}`);
        return undefined;
      }
    };
    try {
      // Every API that takes a secret, with good and bad input alike.
      const added = await security.addApiKey('user-leak', 'openai', 'prod', hostValue, { role: 'user' });
      const issued = await security.apiKeys.issueApiKey('user-leak', 'agentflow', 'ci', { recoverable: true });
      secrets.push(issued.key);
      expect(await security.apiKeys.revealApiKey(added.id)).toBe(hostValue);
      expect(await security.apiKeys.revealApiKey(issued.record.id)).toBe(issued.key);
      await security.verifyApiKey(hostValue, { ip: '198.51.100.1' });
      await security.verifyApiKey(issued.key, { ip: '198.51.100.1' });
      await security.verifyApiKey(`${hostValue}x`, { ip: '198.51.100.2' });
      await security.verifyApiKey(issued.key.slice(0, -1) + (issued.key.endsWith('A') ? 'B' : 'A'), { ip: '198.51.100.3' });
      await keep(security.addApiKey('user-leak', 'openai', 'dup', hostValue, { role: 'user' }));
      await keep(security.addApiKey('user-leak', 'openai', 'bad-role', `${hostValue}-2`, { role: 'root' }));
      await keep(security.apiKeys.issueApiKey('user-leak', 'agentflow', 'escalate', { role: 'admin', actor: { id: 'mgr', role: 'manager' } }));
      const rotated = await security.apiKeys.rotateApiKey(issued.record.id);
      secrets.push(rotated.key);
      await security.apiKeys.revokeApiKey(added.id, { reason: 'leak test' });
      await security.verifyApiKey(hostValue);

      const sealed = await security.encryptor.encryptToString(plaintext, { row: '1' });
      await keep(security.encryptor.decrypt(sealed, { row: '2' }));
      await keep(security.encryptor.decrypt(`${sealed.slice(0, -4)}AAAA`, { row: '1' }));
      security.audit.record({ type: 'authn_login_fail', severity: 'warning', sourceIp: '198.51.100.4', metadata: { password: metadataSecret, apiKey: metadataSecret } });
      await security.audit.flush();

      const haystack = [await dumpTables(security), ...lines, ...errors].join('\n');
      expect(haystack.length).toBeGreaterThan(1000);
      for (const secret of secrets) {
        for (const form of forms(secret)) expect(haystack.includes(form), `a secret leaked in the form ${form.slice(0, 6)}…`).toBe(false);
      }
    } finally {
      await security.close();
    }
  });

  it('keeps its keyring and lookup key in the database: a restarted service reads what the first one wrote', async () => {
    const first = await createSecurity({ database: get().db, env, logger: capturingLogger().logger });
    const value = `sk-restart-${randomBytes(16).toString('hex')}`;
    const record = await first.addApiKey('user-restart', 'stripe', 'main', value, { role: 'user' });
    const sealed = await first.encryptor.encryptToString('survives a restart', { a: 'b' });
    await first.close();

    const second = await createSecurity({ database: get().db, env, logger: capturingLogger().logger });
    try {
      expect(await second.apiKeys.revealApiKey(record.id)).toBe(value);
      expect(await second.verifyApiKey(value)).toMatchObject({ ok: true });
      expect(await second.encryptor.decryptToString(sealed, { a: 'b' })).toBe('survives a restart');
    } finally {
      await second.close();
    }
  });

  it('refuses to escalate through createSecurity: a manager cannot issue an admin key, and nothing is written', async () => {
    const security = await createSecurity({ database: get().db, env, logger: capturingLogger().logger });
    try {
      const before = await security.apiKeys.listApiKeys({ userId: 'user-escalate' });
      await expect(security.apiKeys.issueApiKey('user-escalate', 'agentflow', 'x', { role: 'admin', actor: { id: 'm-1', role: 'manager' } })).rejects.toMatchObject({
        code: 'ERR_PRIVILEGE_ESCALATION',
      });
      await expect(
        security.apiKeys.issueApiKey('user-escalate', 'agentflow', 'x', { role: 'user', permissions: { users: ['delete'] }, actor: { id: 'm-1', role: 'manager' } }),
      ).rejects.toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
      await expect(security.addApiKey('user-escalate', 'svc', 'x', `v-${randomBytes(16).toString('hex')}`, { role: 'user', permissions: { billing: ['read'] } })).rejects.toMatchObject({
        code: 'ERR_INVALID_PERMISSIONS',
      });
      const after = await security.apiKeys.listApiKeys({ userId: 'user-escalate' });
      expect(after.items.length).toBe(before.items.length);
    } finally {
      await security.close();
    }
  });

  it('an insecure key accepted in production is a critical audit event', async () => {
    // Another root key needs a keyring of its own: the shared one was wrapped by the suite's root.
    const tables = { keyVersions: 'prod_key_versions', secrets: 'prod_secrets', apiKeys: 'prod_api_keys', auditLogs: 'prod_audit', migrations: 'prod_sec_migrations', migrationsLock: 'prod_sec_lock', alerts: 'prod_alerts', jobLeases: 'prod_leases' };
    const security = await createSecurity({
      tables,
      database: get().db,
      env: { NODE_ENV: 'production', ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') },
      allowInsecureEncryptionKey: true,
      logger: capturingLogger().logger,
    });
    try {
      await security.audit.flush();
      const { events } = await security.audit.query({ types: ['sys_insecure_key'] });
      expect(events[0]).toMatchObject({ severity: 'critical', metadata: { status: 'accepted_insecure', issue: 'low_entropy' } });
    } finally {
      await security.close();
      await dropSecurityTables(get().db, resolveTableNames(tables));
    }
  });

  it('refuses to start in production with a weak key unless told to accept it', async () => {
    await expect(
      createSecurity({ database: get().db, env: { NODE_ENV: 'production', ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') }, logger: capturingLogger().logger }),
    ).rejects.toMatchObject({ code: 'ERR_INSECURE_KEY' });
  });

  it('uses renamed tables throughout', async () => {
    const tables = { apiKeys: 'svc_api_keys', auditLogs: 'svc_audit', keyVersions: 'svc_key_versions', secrets: 'svc_secrets', alerts: 'svc_alerts', jobLeases: 'svc_leases', migrations: 'svc_sec_migrations', migrationsLock: 'svc_sec_migrations_lock' };
    const security = await createSecurity({ database: get().db, env, tables, logger: capturingLogger().logger });
    try {
      const { key } = await security.apiKeys.issueApiKey('user-renamed', 'svc', 'k');
      expect(await security.verifyApiKey(key)).toMatchObject({ ok: true });
      await security.audit.flush();
      const rows = await get().db.selectFrom('svc_audit' as 'security_audit_logs').select('event_type').execute();
      expect(rows.map((r) => r.event_type)).toContain('authn_token_created');
    } finally {
      await security.close();
      await dropSecurityTables(get().db, resolveTableNames(tables));
    }
  });
});

it('opens its own SQLite database from a URL and closes it', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'afs-url-'));
  try {
    const security = await createSecurity({
      database: `sqlite:${join(dir, 'security.db')}`,
      env: { ENCRYPTION_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'test' },
      logger: capturingLogger().logger,
    });
    const { key } = await security.apiKeys.issueApiKey('u', 's', 'n');
    expect(await security.verifyApiKey(key)).toMatchObject({ ok: true });
    await security.close();
    await security.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
