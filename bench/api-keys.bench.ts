import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiKeyService } from '../src/api-keys/api-key-service.js';
import { silentLogger } from '../src/core/logger.js';
import { createEncryptor } from '../src/crypto/encryptor.js';
import { createLocalKeyProvider } from '../src/keys/local-key-provider.js';
import { loadPurposeKey } from '../src/keys/purpose-keys.js';
import { openDatabase } from '../src/storage/connect.js';
import { createKyselyKeyringStore } from '../src/storage/kysely-keyring-store.js';
import { migrateSecurityDatabase } from '../src/storage/migrations.js';
import { resolveTableNames } from '../src/storage/table-names.js';
import { formatOps, measure, ratio, table } from './harness.js';

const STORED_KEYS = 10_000;
const HOT_KEYS = 1_000;

/**
 * `verifyApiKey` with 10,000 issued keys in a SQLite file database, against one bare HMAC-SHA256 of
 * the same presented keys (the floor of any keyed lookup), in one run:
 * - cached, 1,000 hot keys: the common case, a working set smaller than the cache;
 * - cached, all 10,000 keys round-robin: the worst case for the cache (every hit is the least
 *   recently used entry, and with the default 5 s ttl each key is re-read from the database every 5 s);
 * - uncached: one indexed query per call.
 * The default audit sink (none) is used: the batched audit writer's cost is its own benchmark.
 */
export async function runApiKeysBench(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'afs-bench-api-keys-'));
  const { db, destroy } = await openDatabase(`sqlite:${join(dir, 'bench.db')}`);
  try {
    const tables = resolveTableNames();
    const { error } = await migrateSecurityDatabase(db, tables);
    if (error) throw error;
    const keyProvider = await createLocalKeyProvider({ rootKey: randomBytes(32), keyring: createKyselyKeyringStore(db, tables), logger: silentLogger });
    const encryptor = createEncryptor({ keyProvider, logger: silentLogger });
    const lookupKey = await loadPurposeKey(db, tables, encryptor, 'api-key-lookup', Date.now);
    const base = { db, tables, encryptor, lookupKey, logger: silentLogger };
    const cached = createApiKeyService({ ...base, verifyCache: { ttlMs: 5000, maxEntries: STORED_KEYS } });
    const uncached = createApiKeyService({ ...base, verifyCache: false });

    const keys: string[] = [];
    const started = performance.now();
    for (let i = 0; i < STORED_KEYS; i++) keys.push((await cached.issueApiKey(`user-${i % 500}`, 'bench', `key-${i}`)).key);
    const issueMs = performance.now() - started;
    for (const key of keys) if (!(await cached.verifyApiKey(key)).ok) throw new Error('bench key did not verify');

    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    const pick = (i: number, of: number) => keys[i % of]!;
    const [hmac, hot, all, miss] = await measure([
      ['bare HMAC-SHA256', () => createHmac('sha256', lookupKey).update(pick(a++, STORED_KEYS)).digest()],
      [`verifyApiKey, cached, ${HOT_KEYS.toLocaleString('en-US')} hot keys`, () => cached.verifyApiKey(pick(b++, HOT_KEYS))],
      [`verifyApiKey, cached, all ${STORED_KEYS.toLocaleString('en-US')} keys round-robin`, () => cached.verifyApiKey(pick(c++, STORED_KEYS))],
      ['verifyApiKey, uncached', () => uncached.verifyApiKey(pick(d++, STORED_KEYS))],
    ]);
    await Promise.all([cached.close(), uncached.close()]);
    const row = (m: typeof hmac) => [m!.name, formatOps(m!.opsPerSecond), m!.p50Us.toFixed(2), m!.p99Us.toFixed(2), ratio(m!.opsPerSecond, hmac!.opsPerSecond)];
    return [
      `### API-key verification, ${STORED_KEYS.toLocaleString('en-US')} issued keys in a SQLite file database`,
      '',
      table(['task', 'ops/s', 'p50 µs', 'p99 µs', '× bare HMAC'], [row(hmac), row(hot), row(all), row(miss)]),
      '',
      `Target: cached verifyApiKey ≥ 0.50 × bare HMAC — ${Math.min(hot!.opsPerSecond, all!.opsPerSecond) / hmac!.opsPerSecond >= 0.5 ? 'met' : 'MISSED'} (both cached rows). ` +
        `Issuing the ${STORED_KEYS.toLocaleString('en-US')} keys took ${(issueMs / 1000).toFixed(1)} s (one INSERT each, hash-only).`,
    ].join('\n');
  } finally {
    await destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
