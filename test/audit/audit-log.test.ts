import { expect, it, vi } from 'vitest';
import type { Kysely, KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { describeEachDatabase } from '../helpers/databases.js';
import { dropSecurityTables, migrateSecurityDatabase } from '../../src/storage/migrations.js';
import { resolveTableNames, type TableNames } from '../../src/storage/table-names.js';
import { createAuditLog, type AuditLogOptions, type AuditTimers, type AuditWriteFailure } from '../../src/audit/audit-log.js';
import type { AuditEventInput } from '../../src/audit/events.js';
import type { Logger } from '../../src/core/logger.js';
import type { SecurityDatabase } from '../../src/storage/schema.js';

/** Timers the test fires by hand: no real waits. */
function manualTimers() {
  let next = 1;
  const pending = new Map<number, { callback: () => void; ms: number }>();
  const timers: AuditTimers = {
    setTimeout: (callback, ms) => {
      pending.set(next, { callback, ms });
      return next++;
    },
    clearTimeout: (handle) => void pending.delete(handle as number),
  };
  return {
    timers,
    delays: () => [...pending.values()].map((p) => p.ms),
    fire: () => {
      const due = [...pending.values()];
      pending.clear();
      for (const p of due) p.callback();
    },
  };
}

/** A logger that keeps every line, to prove what reaches logs. */
function capturingLogger() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

let suite = 0;
/** Every test gets tables of its own, so counts never mix. */
async function freshTables(db: Kysely<SecurityDatabase>): Promise<TableNames> {
  const p = `al${++suite}_${Math.random().toString(36).slice(2, 6)}`;
  const tables = resolveTableNames({
    apiKeys: `${p}_keys`,
    auditLogs: `${p}_audit`,
    keyVersions: `${p}_kv`,
    secrets: `${p}_secrets`,
    alerts: `${p}_alerts`,
    jobLeases: `${p}_leases`,
    migrations: `${p}_mig`,
    migrationsLock: `${p}_lock`,
  });
  const { error } = await migrateSecurityDatabase(db, tables);
  if (error) throw error;
  return tables;
}

/** Brings the database back after a test broke it: the tables dropped and migrated afresh. */
async function restoreTable(db: Kysely<SecurityDatabase>, tables: TableNames): Promise<void> {
  await dropSecurityTables(db, tables);
  const { error } = await migrateSecurityDatabase(db, tables);
  expect(error).toBeUndefined();
}

async function rowsOf(db: Kysely<SecurityDatabase>, tables: TableNames) {
  return db.selectFrom(tables.auditLogs).selectAll().orderBy('id').execute();
}

const event = (i: number, severity: AuditEventInput['severity'] = 'info'): AuditEventInput => ({
  type: 'authn_login_fail',
  severity,
  outcome: 'failure',
  actor: { type: 'user', id: `u_${i}` },
  sourceIp: '203.0.113.7',
  requestId: `req-${i}`,
  metadata: { n: i },
});

describeEachDatabase('audit log writer', (get) => {
  const open = async (extra: Partial<AuditLogOptions> = {}) => {
    const { db } = get();
    const tables = await freshTables(db);
    const clock = manualTimers();
    const log = createAuditLog({ db, tables, timers: clock.timers, logger: capturingLogger().logger, ...extra });
    return { db, tables, log, clock };
  };

  it('a recorded event lands with every column, after flush', async () => {
    const { db, tables, log } = await open({ clock: () => 1_800_000_000_123 });
    log.record({
      type: 'authn_token_created',
      severity: 'info',
      outcome: 'success',
      actor: { type: 'api_key', id: 'key_7' },
      sourceIp: '2001:db8::1',
      resource: 'api_keys',
      action: 'create',
      requestId: 'req-abc',
      metadata: { keyId: 'key_8', role: 'manager' },
    });
    expect(await rowsOf(db, tables)).toHaveLength(0);
    await log.flush();
    const [row] = await rowsOf(db, tables);
    expect({ ...row, id: undefined, occurred_at: Number(row!.occurred_at) }).toEqual({
      id: undefined,
      occurred_at: 1_800_000_000_123,
      event_type: 'authn_token_created',
      severity: 'info',
      outcome: 'success',
      actor_type: 'api_key',
      actor_id: 'key_7',
      source_ip: '2001:db8::1',
      resource: 'api_keys',
      action: 'create',
      request_id: 'req-abc',
      metadata: '{"keyId":"key_8","role":"manager"}',
    });
    expect(log.stats()).toMatchObject({ written: 1, pending: 0, dropped: 0, failures: 0 });
    await log.close();
  });

  it('writes on its own when batchSize events are waiting, without flush()', async () => {
    const { db, tables, log, clock } = await open({ batchSize: 5 });
    for (let i = 0; i < 4; i++) log.record(event(i));
    await new Promise((r) => setTimeout(r, 5));
    expect(log.stats().written).toBe(0);
    log.record(event(4));
    await vi.waitFor(() => expect(log.stats().written).toBe(5));
    expect(await rowsOf(db, tables)).toHaveLength(5);
    expect(clock.delays()).toEqual([]);
    await log.close();
  });

  it('writes on the interval what stays below batchSize', async () => {
    const { db, tables, log, clock } = await open({ batchSize: 100, flushIntervalMs: 750 });
    log.record(event(1));
    log.record(event(2, 'warning'));
    expect(clock.delays()).toEqual([750]);
    await new Promise((r) => setTimeout(r, 5));
    expect(log.stats().written).toBe(0);
    clock.fire();
    await vi.waitFor(() => expect(log.stats().written).toBe(2));
    expect(await rowsOf(db, tables)).toHaveLength(2);
    expect(clock.delays()).toEqual([]);
    await log.close();
  });

  it('close() writes what is buffered, stops the timers, and refuses later events', async () => {
    const { db, tables, log, clock } = await open();
    for (let i = 0; i < 3; i++) log.record(event(i, 'error'));
    await log.close();
    expect(await rowsOf(db, tables)).toHaveLength(3);
    expect(clock.delays()).toEqual([]);
    log.record(event(9, 'critical'));
    expect(log.stats()).toMatchObject({ written: 3, pending: 0, dropped: 1 });
    await log.close();
  });

  it('writes one at a time: flushes asked for during a write share the next one', async () => {
    const { db, tables, log } = await open();
    for (let i = 0; i < 50; i++) log.record(event(i));
    const first = log.flush();
    for (let i = 50; i < 60; i++) log.record(event(i));
    const second = log.flush();
    const third = log.flush();
    expect(third).toBe(second);
    await Promise.all([first, second, third]);
    expect(await rowsOf(db, tables)).toHaveLength(60);
    await log.close();
  });

  it('warning and above are never dropped: kept through an outage and written after recovery, info drops counted and reported', async () => {
    const failures: AuditWriteFailure[] = [];
    const { logger, lines } = capturingLogger();
    const { db, tables, log, clock } = await open({
      maxBufferedEvents: 10,
      retry: { initialDelayMs: 100, maxDelayMs: 250 },
      onWriteFailure: (f) => failures.push(f),
      logger,
    });
    await db.schema.dropTable(tables.auditLogs).execute();

    for (let i = 0; i < 25; i++) log.record(event(i, 'info'));
    for (let i = 100; i < 104; i++) log.record(event(i, 'warning'));
    log.record(event(200, 'error'));
    log.record(event(300, 'critical'));
    expect(log.stats()).toMatchObject({ dropped: 15, pending: 16 });

    const error = await log.flush().then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_AUDIT_WRITE_FAILED', details: { attempt: 1 } });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'ERR_AUDIT_WRITE_FAILED', attempt: 1, retryInMs: 100, pendingWarningOrAbove: 8 });
    expect(lines.filter((l) => l.level === 'error' && l.obj.code === 'ERR_AUDIT_WRITE_FAILED')).toHaveLength(1);
    expect(clock.delays()).toEqual([100]);
    expect(log.stats().retrying).toBe(true);

    // More events during the outage: info only up to the bound, warning and above all kept.
    for (let i = 25; i < 45; i++) log.record(event(i, 'info'));
    for (let i = 400; i < 430; i++) log.record(event(i, 'warning'));
    clock.fire();
    await vi.waitFor(() => expect(failures).toHaveLength(2));
    expect(failures[1]).toMatchObject({ attempt: 2, retryInMs: 200 });
    clock.fire();
    await vi.waitFor(() => expect(failures).toHaveLength(3));
    expect(failures[2]).toMatchObject({ attempt: 3, retryInMs: 250 });

    await restoreTable(db, tables);
    clock.fire();
    await vi.waitFor(() => expect(log.stats().retrying).toBe(false));
    await log.flush();

    const rows = await rowsOf(db, tables);
    const ofType = (t: string) => rows.filter((r) => r.event_type === t);
    const logins = ofType('authn_login_fail');
    expect(logins.filter((r) => r.severity !== 'info')).toHaveLength(36);
    const infoWritten = logins.filter((r) => r.severity === 'info').length;
    const stats = log.stats();
    expect(infoWritten + stats.dropped).toBe(45);
    expect(stats.dropped).toBeGreaterThan(0);
    const droppedReports = ofType('sys_audit_events_dropped');
    expect(droppedReports.every((r) => r.severity === 'warning')).toBe(true);
    expect(droppedReports.reduce((n, r) => n + (JSON.parse(r.metadata!) as { droppedEvents: number }).droppedEvents, 0)).toBe(stats.dropped);
    const writeFail = ofType('sys_audit_write_fail');
    expect(writeFail).toHaveLength(1);
    expect(writeFail[0]).toMatchObject({ severity: 'critical', outcome: 'failure', actor_type: 'system' });
    expect(stats).toMatchObject({ failures: 3, pending: 0, written: rows.length });
    expect(lines.some((l) => l.msg === 'audit log writes again')).toBe(true);
    await log.close();
  });

  it('close() while the database is down reports what could not be written, without throwing', async () => {
    const failures: AuditWriteFailure[] = [];
    const { db, tables, log, clock } = await open({ onWriteFailure: (f) => failures.push(f) });
    await db.schema.dropTable(tables.auditLogs).execute();
    log.record(event(1, 'critical'));
    log.record(event(2, 'info'));
    await expect(log.close()).resolves.toBeUndefined();
    expect(failures).toHaveLength(1);
    // The critical event and the queued sys_audit_write_fail; no retry is scheduled once closed.
    expect(failures[0]).toMatchObject({ pendingWarningOrAbove: 2, pendingEvents: 3 });
    expect(failures[0]).not.toHaveProperty('retryInMs');
    expect(clock.delays()).toEqual([]);
    expect(log.stats()).toMatchObject({ pending: 3, written: 0 });
  });

  it('a backlog larger than one transaction is written whole, in order', async () => {
    const { db, tables, log } = await open({ maxBufferedEvents: 5000 });
    for (let i = 0; i < 4500; i++) log.record(event(i, i % 2 === 0 ? 'info' : 'warning'));
    await log.flush();
    await log.flush();
    const rows = await rowsOf(db, tables);
    expect(rows).toHaveLength(4500);
    expect(rows.map((r) => r.request_id)).toEqual(Array.from({ length: 4500 }, (_, i) => `req-${i}`));
    expect(log.stats()).toMatchObject({ written: 4500, dropped: 0, pending: 0 });
    await log.close();
  });

  it('error and critical events are kept beyond maxRetainedEvents, and reaching it is logged once', async () => {
    const { logger, lines } = capturingLogger();
    const { db, tables, log } = await open({ logger, maxBufferedEvents: 5, maxRetainedEvents: 20 });
    await db.schema.dropTable(tables.auditLogs).execute();
    for (let i = 0; i < 50; i++) log.record(event(i, 'error'));
    await expect(log.flush()).rejects.toMatchObject({ code: 'ERR_AUDIT_WRITE_FAILED' });
    for (let i = 50; i < 60; i++) log.record(event(i, 'critical'));
    expect(lines.filter((l) => l.msg.startsWith('audit events held in memory reached maxRetainedEvents'))).toHaveLength(1);
    expect(log.stats()).toMatchObject({ pending: 61, dropped: 0, droppedWarnings: 0 });
    await restoreTable(db, tables);
    await log.flush();
    const logins = (await rowsOf(db, tables)).filter((r) => r.event_type === 'authn_login_fail');
    expect(logins.filter((r) => r.severity === 'error')).toHaveLength(50);
    expect(logins.filter((r) => r.severity === 'critical')).toHaveLength(10);
    await log.close();
  });

  it('a flood of warning events during an outage stays within maxRetainedEvents; what is not kept is reported per type, error and critical all written', async () => {
    const cap = 50;
    const failures: AuditWriteFailure[] = [];
    const { logger, lines } = capturingLogger();
    const { db, tables, log, clock } = await open({
      batchSize: 20,
      maxBufferedEvents: 20,
      maxRetainedEvents: cap,
      retry: { initialDelayMs: 100, maxDelayMs: 100 },
      onWriteFailure: (f) => failures.push(f),
      logger,
    });
    await db.schema.dropTable(tables.auditLogs).execute();

    // What verifyApiKey records for a malformed key: no database needed, so it keeps coming.
    const keyFail = (i: number): AuditEventInput => ({
      type: 'authn_api_key_fail',
      severity: 'warning',
      outcome: 'failure',
      sourceIp: '198.51.100.9',
      resource: 'api_keys',
      action: 'verify',
      requestId: `k-${i}`,
      metadata: { reason: 'malformed' },
    });
    const denied = (i: number): AuditEventInput => ({ type: 'authz_fail', severity: 'warning', outcome: 'failure', actor: { type: 'user', id: `u_${i}` } });
    const recorded = new Map<string, number>();
    let maxPending = 0;
    const record = (e: AuditEventInput) => {
      log.record(e);
      recorded.set(`${e.type}/${e.severity}`, (recorded.get(`${e.type}/${e.severity}`) ?? 0) + 1);
      maxPending = Math.max(maxPending, log.stats().pending);
    };

    for (let i = 0; i < 30; i++) record(keyFail(i));
    await expect(log.flush()).rejects.toMatchObject({ code: 'ERR_AUDIT_WRITE_FAILED' });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2000; i++) record(keyFail(1000 + round * 2000 + i));
      for (let i = 0; i < 300; i++) record(denied(i));
      clock.fire();
      await vi.waitFor(() => expect(failures).toHaveLength(round + 2));
    }
    // The cap, plus sys_audit_write_fail and the unwritten drop report.
    expect(maxPending).toBeLessThanOrEqual(cap + 3);
    expect(log.stats().pending).toBeLessThanOrEqual(cap + 3);

    // At the cap, error and critical events are still kept, every one.
    const before = log.stats().pending;
    for (let i = 0; i < 15; i++) record(event(i, 'error'));
    for (let i = 0; i < 5; i++) record({ type: 'crypto_decrypt_fail', severity: 'critical', outcome: 'failure' });
    expect(log.stats().pending).toBe(before + 20);

    const lost = log.stats().droppedWarnings;
    expect(lost).toBeGreaterThan(6000);
    expect(log.stats().dropped).toBe(0);
    expect(failures.at(-1)).toMatchObject({ droppedWarnings: lost, droppedEvents: 0 });
    expect(lines.filter((l) => l.msg.startsWith('audit events held in memory reached maxRetainedEvents'))).toHaveLength(1);

    await restoreTable(db, tables);
    clock.fire();
    await vi.waitFor(() => expect(log.stats().retrying).toBe(false));
    await log.flush();

    const rows = await rowsOf(db, tables);
    const count = (type: string, severity: string) => rows.filter((r) => r.event_type === type && r.severity === severity).length;
    expect(count('authn_login_fail', 'error')).toBe(15);
    expect(count('crypto_decrypt_fail', 'critical')).toBe(5);
    expect(count('sys_audit_write_fail', 'critical')).toBe(1);

    // One summary for the outage, with the count of every type that was not kept.
    const reports = rows.filter((r) => r.event_type === 'sys_audit_events_dropped');
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ severity: 'error', outcome: 'failure', actor_type: 'system' });
    const keyFailsLost = recorded.get('authn_api_key_fail/warning')! - count('authn_api_key_fail', 'warning');
    const deniedLost = recorded.get('authz_fail/warning')! - count('authz_fail', 'warning');
    expect(keyFailsLost).toBeGreaterThan(0);
    expect(deniedLost).toBeGreaterThan(0);
    // The type names match the sensitive-key pattern (api_key) and are still counted, not redacted.
    expect(JSON.parse(reports[0]!.metadata!)).toEqual({
      droppedSeverity: 'warning',
      droppedEvents: lost,
      authn_api_key_fail: keyFailsLost,
      authz_fail: deniedLost,
    });
    expect(keyFailsLost + deniedLost).toBe(lost);
    expect(log.stats()).toMatchObject({ pending: 0, droppedWarnings: lost, written: rows.length });
    await log.close();
  });

  it('below maxRetainedEvents an outage loses no warning or above; info drops are reported per type', async () => {
    const { logger, lines } = capturingLogger();
    const { db, tables, log, clock } = await open({ batchSize: 20, maxBufferedEvents: 20, maxRetainedEvents: 1000, logger });
    await db.schema.dropTable(tables.auditLogs).execute();
    for (let i = 0; i < 300; i++) log.record(i % 3 === 0 ? { ...event(i, 'warning'), type: 'authz_fail' } : event(i, 'warning'));
    for (let i = 0; i < 10; i++) log.record(event(1000 + i, 'error'));
    for (let i = 0; i < 50; i++) log.record({ ...event(2000 + i, 'info'), type: 'authn_api_key_success' });
    await expect(log.flush()).rejects.toMatchObject({ code: 'ERR_AUDIT_WRITE_FAILED' });
    expect(log.stats()).toMatchObject({ droppedWarnings: 0, dropped: 50 });
    await restoreTable(db, tables);
    clock.fire();
    await vi.waitFor(() => expect(log.stats().retrying).toBe(false));
    await log.flush();
    const rows = await rowsOf(db, tables);
    const of = (type: string, severity: string) => rows.filter((r) => r.event_type === type && r.severity === severity);
    expect(of('authz_fail', 'warning')).toHaveLength(100);
    expect(of('authn_login_fail', 'warning')).toHaveLength(200);
    expect(of('authn_login_fail', 'error')).toHaveLength(10);
    expect(of('sys_audit_events_dropped', 'error')).toHaveLength(0);
    const [infoReport] = of('sys_audit_events_dropped', 'warning');
    expect(JSON.parse(infoReport!.metadata!)).toEqual({ droppedSeverity: 'info', droppedEvents: 50, authn_api_key_success: 50 });
    expect(lines.some((l) => l.msg.startsWith('audit events held in memory reached'))).toBe(false);
    expect(log.stats()).toMatchObject({ droppedWarnings: 0, pending: 0 });
    await log.close();
  });

  it('warning events refused while a write holds the cap are reported by the next write, even if nothing else is recorded', async () => {
    const { db, tables, log, clock } = await open({ batchSize: 10, maxBufferedEvents: 10, maxRetainedEvents: 10, flushIntervalMs: 500 });
    // The 10th event starts a write that holds all 10; the next 20 find the cap reached.
    for (let i = 0; i < 30; i++) log.record(event(i, 'warning'));
    expect(log.stats()).toMatchObject({ pending: 10, droppedWarnings: 20 });
    await vi.waitFor(() => expect(log.stats().written).toBe(10));
    await vi.waitFor(() => expect(clock.delays()).toEqual([500]));
    clock.fire();
    await vi.waitFor(() => expect(log.stats().written).toBe(11));
    const reports = (await rowsOf(db, tables)).filter((r) => r.event_type === 'sys_audit_events_dropped');
    expect(reports).toHaveLength(1);
    expect(reports[0]!.severity).toBe('error');
    expect(JSON.parse(reports[0]!.metadata!)).toEqual({ droppedSeverity: 'warning', droppedEvents: 20, authn_login_fail: 20 });
    await log.close();
  });

  it('a burst beyond maxBufferedEvents drops only info events, counted and reported in the log', async () => {
    const { db, tables, log } = await open({ batchSize: 20, maxBufferedEvents: 50 });
    for (let i = 0; i < 400; i++) log.record(event(i, i % 4 === 0 ? 'warning' : 'info'));
    await log.flush();
    await log.flush();
    const rows = await rowsOf(db, tables);
    const logins = rows.filter((r) => r.event_type === 'authn_login_fail');
    expect(logins.filter((r) => r.severity === 'warning')).toHaveLength(100);
    const { dropped } = log.stats();
    expect(dropped).toBeGreaterThan(0);
    expect(logins.filter((r) => r.severity === 'info').length + dropped).toBe(300);
    const reports = rows.filter((r) => r.event_type === 'sys_audit_events_dropped');
    expect(reports.reduce((n, r) => n + (JSON.parse(r.metadata!) as { droppedEvents: number }).droppedEvents, 0)).toBe(dropped);
    await log.close();
  });

  it('invalid events are neither written nor thrown, and are counted and logged without their values', async () => {
    const { logger, lines } = capturingLogger();
    const { db, tables, log, clock } = await open({ logger });
    const hostile = new Proxy({}, { get: () => { throw new Error('boom'); } });
    const bad: unknown[] = [
      { type: 'Bad Type sk_live_secret', severity: 'info' },
      { type: 'x', severity: 'fatal' },
      null,
      hostile,
      { type: 'x', severity: 'info', actor: { type: 'robot' } },
    ];
    for (const b of bad) expect(() => log.record(b as AuditEventInput)).not.toThrow();
    log.record(event(1));
    expect(log.stats()).toMatchObject({ invalid: 5, pending: 1 });
    clock.fire();
    await vi.waitFor(() => expect(log.stats().written).toBe(1));
    expect(await rowsOf(db, tables)).toHaveLength(1);
    const report = lines.find((l) => l.msg === 'audit events were invalid and not written');
    expect(report?.obj).toEqual({ invalidEvents: 5, fields: expect.arrayContaining(['type', 'severity', 'event', 'actor']) });
    expect(JSON.stringify(lines)).not.toContain('sk_live_secret');
    await log.close();
  });

  it('no row, error or log line holds a secret passed in metadata under a sensitive key name', async () => {
    const secret = 'sk_live_51HxQ2eZvKYlo2C0a9F8';
    const { logger, lines } = capturingLogger();
    const failures: AuditWriteFailure[] = [];
    const { db, tables, log } = await open({ logger, onWriteFailure: (f) => failures.push(f) });
    const sensitive = { apiKey: secret, password: secret, authorization: `Bearer ${secret}`, dataKey: secret, plaintext: secret, clientSecret: secret, refreshToken: secret };
    log.record({ type: 'authn_token_created', severity: 'warning', metadata: { ...sensitive, keyId: 'k_1' } });
    await log.flush();
    // And through a failed write: the error and the failure report hold no value either.
    await db.schema.dropTable(tables.auditLogs).execute();
    log.record({ type: 'authn_token_revealed', severity: 'critical', metadata: sensitive });
    const error = await log.flush().then(() => undefined, (e: unknown) => e as Error);
    expect(error).toBeDefined();
    expect(`${error!.message} ${JSON.stringify((error as { details?: unknown }).details)}`).not.toContain(secret);
    expect(JSON.stringify(failures)).not.toContain(secret);
    await restoreTable(db, tables);
    await log.flush();
    const rows = await rowsOf(db, tables);
    expect(rows.map((r) => r.event_type)).toEqual(expect.arrayContaining(['authn_token_revealed', 'sys_audit_write_fail']));
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(JSON.stringify(lines)).not.toContain(secret);
    const revealed = rows.find((r) => r.event_type === 'authn_token_revealed')!;
    expect(JSON.parse(revealed.metadata!)).toMatchObject({ apiKey: '[redacted]', authorization: '[redacted]' });
    await log.close();
  });

  it('a row the database refuses is written in a reduced form and does not block the others', async () => {
    // Simulates a column charset or a host trigger that refuses one value.
    const refuseSkull: KyselyPlugin = {
      transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
        if (args.node.kind === 'InsertQueryNode' && JSON.stringify(args.node).includes('☠')) throw new Error('refused value');
        return args.node;
      },
      transformResult: async (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => args.result,
    };
    const { logger, lines } = capturingLogger();
    const { db } = get();
    const tables = await freshTables(db);
    const log = createAuditLog({ db: db.withPlugin(refuseSkull), tables, logger, timers: manualTimers().timers });
    for (let i = 0; i < 30; i++) log.record(i === 17 ? { ...event(i, 'error'), resource: 'file ☠', metadata: { name: '☠' } } : event(i));
    await log.flush();
    const rows = await rowsOf(db, tables);
    expect(rows).toHaveLength(30);
    expect(rows.find((r) => r.request_id === 'req-17')).toMatchObject({ resource: 'file ?', metadata: '{"_reduced":true}', severity: 'error' });
    expect(log.stats()).toMatchObject({ written: 30, failures: 0 });
    expect(lines.find((l) => l.level === 'warn')?.obj).toEqual({ reducedEvents: 1 });
    await log.close();
  });
});

it('refuses options out of bounds', () => {
  const db = { insertInto: () => undefined, transaction: () => undefined } as unknown as Kysely<SecurityDatabase>;
  const bads = [
    { batchSize: 0 },
    { batchSize: 5000 },
    { flushIntervalMs: -1 },
    { retry: { initialDelayMs: 0 } },
    { nope: 1 },
    { maxRetainedEvents: 0 },
    { maxBufferedEvents: 500, maxRetainedEvents: 499 },
    { maxRetainedEvents: 5000 }, // below the default maxBufferedEvents (10,000)
    { memoryWarningEvents: 100 }, // replaced by maxRetainedEvents
  ];
  for (const bad of bads) {
    expect(() => createAuditLog({ db, ...bad } as AuditLogOptions)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
  }
  // The default cap follows a larger buffer bound instead of refusing it.
  expect(() => createAuditLog({ db, maxBufferedEvents: 200_000 })).not.toThrow();
  expect(() => createAuditLog({ db, maxBufferedEvents: 500, maxRetainedEvents: 500 })).not.toThrow();
  expect(() => createAuditLog({ db: {} as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
});
