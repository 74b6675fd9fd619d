import { beforeAll, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { describeEachDatabase } from '../helpers/databases.js';
import { migrateSecurityDatabase } from '../../src/storage/migrations.js';
import { resolveTableNames, type TableNames } from '../../src/storage/table-names.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { countAuditEvents, queryAuditLog, type AuditRecord } from '../../src/audit/audit-query.js';
import type { AuditEventInput } from '../../src/audit/events.js';
import { silentLogger } from '../../src/core/logger.js';
import type { SecurityDatabase } from '../../src/storage/schema.js';

const T0 = 1_800_000_000_000;
const MINUTE = 60_000;

/**
 * The fixture: 60 events one minute apart. Types, severities, actors and IPs rotate with
 * different periods so every filter selects a known subset.
 */
const TYPES = ['authn_login_fail', 'authn_login_success', 'authz_fail'] as const;
const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
const fixture: AuditEventInput[] = Array.from({ length: 60 }, (_, i) => ({
  type: TYPES[i % 3]!,
  severity: SEVERITIES[i % 4]!,
  outcome: i % 2 === 0 ? 'failure' : 'success',
  actor: i % 5 === 0 ? { type: 'system' } : { type: i % 5 === 1 ? 'api_key' : 'user', id: `actor_${i % 5}` },
  sourceIp: `198.51.100.${i % 6}`,
  requestId: `req-${i}`,
  metadata: { i, apiKey: 'sk_never_returned' },
  // Two events share each minute's timestamp so pagination must break ties by id.
  occurredAt: T0 + Math.floor(i / 2) * MINUTE,
}));

const indexes = (events: AuditRecord[]) => events.map((e) => (e.metadata as { i: number }).i);
const expected = (keep: (e: AuditEventInput, i: number) => boolean) =>
  fixture
    .map((e, i) => [e, i] as const)
    .filter(([e, i]) => keep(e, i))
    .map(([, i]) => i)
    .sort((a, b) => b - a);

describeEachDatabase('audit log queries', (get) => {
  let db: Kysely<SecurityDatabase>;
  const tables: TableNames = resolveTableNames({
    apiKeys: 'aq_keys',
    auditLogs: 'aq_audit',
    keyVersions: 'aq_kv',
    secrets: 'aq_secrets',
    alerts: 'aq_alerts',
    jobLeases: 'aq_leases',
    migrations: 'aq_mig',
    migrationsLock: 'aq_lock',
  });

  beforeAll(async () => {
    db = get().db;
    const { error } = await migrateSecurityDatabase(db, tables);
    if (error) throw error;
    const log = createAuditLog({ db, tables, logger: silentLogger });
    for (const e of fixture) log.record(e);
    await log.close();
  });

  it('returns records newest first, camelCase, with metadata parsed, numbers converted and ids as strings', async () => {
    const { events, nextCursor } = await queryAuditLog(db, tables, { limit: 1 });
    expect(nextCursor).toBeDefined();
    const e = events[0]!;
    expect(typeof e.id).toBe('string');
    expect(e).toEqual({
      id: e.id,
      occurredAt: T0 + 29 * MINUTE,
      eventType: 'authz_fail',
      severity: 'critical',
      outcome: 'success',
      actorType: 'user',
      actorId: 'actor_4',
      sourceIp: '198.51.100.5',
      resource: null,
      action: null,
      requestId: 'req-59',
      metadata: { i: 59, apiKey: '[redacted]' },
    });
  });

  it('filters by time window: from inclusive, to exclusive', async () => {
    const { events } = await queryAuditLog(db, tables, { from: T0 + 10 * MINUTE, to: T0 + 12 * MINUTE });
    expect(indexes(events)).toEqual([23, 22, 21, 20]);
  });

  it('filters by type', async () => {
    const { events } = await queryAuditLog(db, tables, { types: ['authz_fail'] });
    expect(indexes(events)).toEqual(expected((e) => e.type === 'authz_fail'));
  });

  it('filters by severity, by list and by floor', async () => {
    expect(indexes((await queryAuditLog(db, tables, { severities: ['error', 'info'] })).events)).toEqual(
      expected((e) => e.severity === 'error' || e.severity === 'info'),
    );
    expect(indexes((await queryAuditLog(db, tables, { minSeverity: 'error' })).events)).toEqual(
      expected((e) => e.severity === 'error' || e.severity === 'critical'),
    );
    expect((await queryAuditLog(db, tables, { severities: ['info'], minSeverity: 'warning' })).events).toEqual([]);
  });

  it('filters by actor, by actor type, by outcome', async () => {
    expect(indexes((await queryAuditLog(db, tables, { actorId: 'actor_2' })).events)).toEqual(expected((_, i) => i % 5 === 2));
    expect(indexes((await queryAuditLog(db, tables, { actorType: 'system' })).events)).toEqual(expected((_, i) => i % 5 === 0));
    expect(indexes((await queryAuditLog(db, tables, { outcome: 'failure', actorType: 'api_key' })).events)).toEqual(
      expected((_, i) => i % 2 === 0 && i % 5 === 1),
    );
  });

  it('filters by source IP, combined with type and window', async () => {
    const { events } = await queryAuditLog(db, tables, { sourceIp: '198.51.100.3', types: ['authn_login_fail'], from: T0 + 5 * MINUTE });
    expect(indexes(events)).toEqual(expected((e, i) => i % 6 === 3 && e.type === 'authn_login_fail' && i >= 10));
  });

  it('pages with the cursor through every event once, ties in time broken by id', async () => {
    const seen: number[] = [];
    let before: string | undefined;
    let pages = 0;
    do {
      const page = await queryAuditLog(db, tables, { limit: 7, minSeverity: 'warning', ...(before === undefined ? {} : { before }) });
      seen.push(...indexes(page.events));
      before = page.nextCursor;
      pages++;
    } while (before !== undefined);
    expect(seen).toEqual(expected((e) => e.severity !== 'info'));
    expect(pages).toBe(Math.ceil(45 / 7));
  });

  it('counts per IP and per actor over a window, largest first, with a threshold', async () => {
    const perIp = await countAuditEvents(db, tables, { groupBy: 'source_ip', types: ['authn_login_fail'] });
    // authn_login_fail is i % 3 === 0, so IPs i % 6 of 0 and 3 only, 10 each.
    expect(perIp).toEqual([
      { key: '198.51.100.0', count: 10 },
      { key: '198.51.100.3', count: 10 },
    ]);
    const perActor = await countAuditEvents(db, tables, { groupBy: 'actor_id', from: T0, to: T0 + 10 * MINUTE, actorType: 'user', minCount: 4 });
    expect(perActor).toEqual([
      { key: 'actor_2', count: 4 },
      { key: 'actor_3', count: 4 },
      { key: 'actor_4', count: 4 },
    ]);
    const perSeverity = await countAuditEvents(db, tables, { groupBy: 'severity', minSeverity: 'error' });
    expect(perSeverity).toEqual([
      { key: 'critical', count: 15 },
      { key: 'error', count: 15 },
    ]);
    expect(await countAuditEvents(db, tables, { groupBy: 'event_type', minCount: 21 })).toEqual([]);
    const systemActors = await countAuditEvents(db, tables, { groupBy: 'actor_id', actorType: 'system' });
    expect(systemActors).toEqual([{ key: null, count: 12 }]);
  });

  it('refuses invalid filters with ERR_INVALID_INPUT, without echoing them', async () => {
    const bad: unknown[] = [
      { limit: 0 },
      { limit: 1001 },
      { from: 10, to: 5 },
      { types: ["x' or 1=1 --"] },
      { severities: ['fatal'] },
      { before: '12; drop table' },
      { unknown: true },
      { from: -1 },
    ];
    for (const q of bad) {
      const error = await queryAuditLog(db, tables, q as never).then(() => undefined, (e: unknown) => e as Error);
      expect(error).toMatchObject({ code: 'ERR_INVALID_INPUT' });
      expect(error!.message).not.toContain('drop table');
      expect(error!.message).not.toContain('or 1=1');
    }
    await expect(countAuditEvents(db, tables, { groupBy: 'metadata' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});
