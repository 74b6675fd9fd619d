/**
 * `npm run demo`: the library's main job on an embedded SQLite file and a local key.
 * API keys with roles, a permission check, envelope encryption across a key rotation, and the
 * audit trail all of it left. Runs with no setup: without ENCRYPTION_KEY (outside production) the
 * library uses its public development key and says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactEnvelopeKeyVersion, createSecurity, type LocalKeyProvider, type Logger } from '../src/index.js';

// A host wires its own logger (pino, say); the demo prints warnings plainly.
const logger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (_obj, msg) => console.warn(`warning: ${msg}`),
  error: (_obj, msg) => console.error(`error: ${msg}`),
};

const dir = mkdtempSync(join(tmpdir(), 'agentflow-security-demo-'));
const security = await createSecurity({ database: `sqlite:${join(dir, 'security.db')}`, logger });
try {
  console.log(`database: SQLite file, tables migrated; key: local (${security.config.encryptionKeyStatus})`);

  // The spec's addApiKey: a third-party key stored encrypted, bound to its row, with a role and custom permissions.
  const stored = await security.addApiKey('user-42', 'openai', 'default', 'sk-example-0123456789abcdef0123456789', {
    label: 'My API Key',
    role: 'user',
    permissions: { reports: ['create', 'read', 'list'], insights: ['read', 'list'] },
  });
  console.log(`addApiKey: ${stored.id} (${stored.role}, shown as ${stored.keyPrefix}…, value not returned)`);

  // A key the library issues: shown once, stored as a keyed hash only.
  const { key } = await security.apiKeys.issueApiKey('user-42', 'agentflow', 'ci', { role: 'readonly' });
  const verified = await security.verifyApiKey(key, { ip: '203.0.113.7' });
  const refused = await security.verifyApiKey(`${key.slice(0, -1)}x`, { ip: '203.0.113.7' });
  console.log(`issued ${key.slice(0, 12)}…; verify: ${verified.ok ? 'ok' : 'refused'}; a mistyped key: ${refused.ok ? 'ok' : refused.reason}`);

  if (verified.ok) {
    const principal = security.permissions.compilePrincipal(verified.key);
    const list = security.permissions.can(principal, 'reports', 'list');
    const remove = security.permissions.can(principal, 'reports', 'delete');
    console.log(`readonly key: list reports → ${list.allowed} (${list.reason}); delete reports → ${remove.allowed} (${remove.reason})`);
  }

  // Envelope encryption, bound to where the value lives; old envelopes survive rotation.
  const context = { table: 'customers', column: 'tax_id', id: '42' };
  const sealed = await security.encryptor.encryptToString('123-45-6789', context);
  const rotated = await (security.keyProvider as LocalKeyProvider).rotate();
  const fresh = await security.encryptor.encryptToString('987-65-4321', context);
  console.log(`sealed under v${compactEnvelopeKeyVersion(sealed)}; rotated to v${rotated.keyVersion}; new data under v${compactEnvelopeKeyVersion(fresh)}`);
  console.log(`the v1 envelope still decrypts: ${(await security.encryptor.decryptToString(sealed, context)) === '123-45-6789'}`);
  try {
    await security.encryptor.decryptToString(sealed, { ...context, id: '43' });
  } catch (error) {
    console.log(`copied to row 43 it is refused: ${(error as { code?: string }).code}`);
  }

  // The audit trail.
  await security.audit.flush();
  const counts = await security.audit.count({ groupBy: 'event_type' });
  console.log('audit log:', counts.map((c) => `${c.key} ×${c.count}`).join(', '));
} finally {
  await security.close();
  rmSync(dir, { recursive: true, force: true });
}
