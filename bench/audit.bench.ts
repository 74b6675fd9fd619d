import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { createAuditLog } from '../src/audit/audit-log.js';
import type { AuditEventInput } from '../src/audit/events.js';
import { DEFAULT_WRITE_LIMITS, writeAuditRows, type AuditWriteLimits } from '../src/audit/kysely-audit-store.js';
import { sanitizeEvent, type AuditRow } from '../src/audit/sanitize.js';
import { silentLogger } from '../src/core/logger.js';
import { openDatabase } from '../src/storage/connect.js';
import { migrateSecurityDatabase } from '../src/storage/migrations.js';
import type { SecurityDatabase } from '../src/storage/schema.js';
import { resolveTableNames } from '../src/storage/table-names.js';
import { formatOps, ratio, table } from './harness.js';

const SINGLE_EVENTS = 2_000;
const BATCHED_EVENTS = 20_000;
const ROUNDS = 3;
const tables = resolveTableNames();

interface Target {
  readonly label: string;
  readonly target: number;
}

interface Figures {
  readonly single: number;
  readonly batched: number;
  readonly strategies: ReadonlyArray<readonly [string, number]>;
  /** SQLite only: the driver alone, without Kysely. */
  readonly floor?: number;
}

/** A realistic event: a failed login with an actor, an IP, a request id and small metadata. */
function event(i: number): AuditEventInput {
  return {
    type: 'authn_login_fail',
    severity: i % 10 === 0 ? 'warning' : 'info',
    outcome: 'failure',
    actor: { type: 'user', id: `user_${i % 500}` },
    sourceIp: `198.51.${(i >> 8) & 255}.${i & 255}`,
    resource: 'session',
    action: 'login',
    requestId: `req-${i.toString(36)}`,
    metadata: { reason: 'bad_password', attempt: (i % 5) + 1 },
  };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const perSecond = (events: number, startedAt: number) => events / ((performance.now() - startedAt) / 1000);

async function clear(db: Kysely<SecurityDatabase>): Promise<void> {
  await db.deleteFrom(tables.auditLogs).execute();
}

/** The baseline: each event sanitized as the writer does, then its own awaited INSERT (one commit each). */
async function single(db: Kysely<SecurityDatabase>): Promise<number> {
  await clear(db);
  const started = performance.now();
  for (let i = 0; i < SINGLE_EVENTS; i++) {
    await db.insertInto(tables.auditLogs).values(sanitizeEvent(event(i), Date.now()) as AuditRow).execute();
  }
  return perSecond(SINGLE_EVENTS, started);
}

/** The batched writer with its defaults, except a bound that holds the whole synchronous burst. */
async function batched(db: Kysely<SecurityDatabase>): Promise<number> {
  await clear(db);
  // With the default bound (10,000), a synchronous burst of 20,000 drops info events by design.
  const log = createAuditLog({ db, tables, logger: silentLogger, maxBufferedEvents: BATCHED_EVENTS });
  const started = performance.now();
  for (let i = 0; i < BATCHED_EVENTS; i++) log.record(event(i));
  await log.flush();
  const rate = perSecond(BATCHED_EVENTS, started);
  await log.close();
  const { written, dropped } = log.stats();
  if (written !== BATCHED_EVENTS || dropped !== 0) throw new Error(`audit bench: ${written} written, ${dropped} dropped`);
  return rate;
}

/** Write strategies for prepared rows: how many rows per statement, how many per commit. */
const STRATEGIES: ReadonlyArray<readonly [string, AuditWriteLimits]> = [
  ['200-row statements, a commit each', { rowsPerStatement: 200, rowsPerTransaction: 200 }],
  ['200-row statements, a commit per 2,000 rows (the writer)', DEFAULT_WRITE_LIMITS],
  ['200-row statements, one commit for all 20,000', { rowsPerStatement: 200, rowsPerTransaction: 20_000 }],
  ['1,000-row statements, a commit per 2,000 rows', { rowsPerStatement: 1000, rowsPerTransaction: 2000 }],
];

async function strategy(db: Kysely<SecurityDatabase>, limits: AuditWriteLimits): Promise<number> {
  await clear(db);
  const rows = Array.from({ length: BATCHED_EVENTS }, (_, i) => sanitizeEvent(event(i), Date.now()) as AuditRow);
  const started = performance.now();
  const result = await writeAuditRows(db, tables, rows, limits);
  if (result.written !== rows.length) throw new Error('audit bench: strategy write failed');
  return perSecond(rows.length, started);
}

async function measureDatabase(db: Kysely<SecurityDatabase>, floor?: () => number): Promise<Figures> {
  const { error } = await migrateSecurityDatabase(db, tables);
  if (error) throw error;
  // Warm-up: connections, statement paths, page cache.
  await batched(db);
  const singles: number[] = [];
  const batches: number[] = [];
  const byStrategy = STRATEGIES.map(() => [] as number[]);
  const floors: number[] = [];
  // Interleaved rounds, so a burst of load from a neighbour hits every contender alike.
  for (let round = 0; round < ROUNDS; round++) {
    (globalThis as { gc?: () => void }).gc?.();
    singles.push(await single(db));
    batches.push(await batched(db));
    for (const [k, [, limits]] of STRATEGIES.entries()) byStrategy[k]!.push(await strategy(db, limits));
    if (floor !== undefined) {
      await clear(db);
      floors.push(floor());
    }
  }
  return {
    single: median(singles),
    batched: median(batches),
    strategies: STRATEGIES.map(([name], k) => [name, median(byStrategy[k]!)] as const),
    ...(floors.length > 0 ? { floor: median(floors) } : {}),
  };
}

async function sqliteFigures(): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'afs-audit-bench-'));
  const path = join(dir, 'audit.db');
  const opened = await openDatabase(`sqlite:${path}`);
  const raw = new Database(path);
  // The same durability as the library's own connection (openDatabase syncs every commit).
  raw.pragma('synchronous = FULL');
  try {
    return await measureDatabase(opened.db, sqliteFloor(raw));
  } finally {
    raw.close();
    await opened.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const COLUMNS = ['occurred_at', 'event_type', 'severity', 'outcome', 'actor_type', 'actor_id', 'source_ip', 'resource', 'action', 'request_id', 'metadata'] as const;

/**
 * The floor for any SQL path on this machine: better-sqlite3 alone, one prepared single-row
 * statement reused in one transaction, no Kysely. The batched writer cannot beat it.
 */
function sqliteFloor(handle: Database.Database): () => number {
  return () => {
    const insert = handle.prepare(`insert into ${tables.auditLogs} (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`);
    const writeAll = handle.transaction((rows: AuditRow[]) => {
      for (const row of rows) insert.run(COLUMNS.map((c) => row[c]));
    });
    const rows = Array.from({ length: BATCHED_EVENTS }, (_, i) => sanitizeEvent(event(i), Date.now()) as AuditRow);
    const started = performance.now();
    writeAll(rows);
    return perSecond(rows.length, started);
  };
}

async function postgresFigures(adminUrl: string): Promise<Figures> {
  const admin = await openDatabase(adminUrl, { poolSize: 1 });
  const name = `afs_bench_audit_${randomBytes(4).toString('hex')}`;
  try {
    await sql.raw(`CREATE DATABASE ${name}`).execute(admin.db);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    const opened = await openDatabase(url.toString());
    try {
      return await measureDatabase(opened.db);
    } finally {
      await opened.destroy();
      await dropDatabase(admin.db, name);
    }
  } finally {
    await admin.destroy();
  }
}

/**
 * Drops the bench database once the pool's connections are gone. `pool.end()` resolves before its
 * sockets close, and `DROP DATABASE … WITH (FORCE)` would then kill a closing client, whose error
 * pg raises as an unhandled 'error' event; a plain DROP refused while sessions linger is retried.
 */
async function dropDatabase(admin: Kysely<SecurityDatabase>, name: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await sql.raw(`DROP DATABASE IF EXISTS ${name}`).execute(admin);
      return;
    } catch {
      // 55006: still accessed by the closing sessions; they are gone within milliseconds.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await sql.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).execute(admin);
}

/**
 * Audit events per second into SQLite (file, WAL, every commit synced) and PostgreSQL: the batched writer (record N
 * events, then await flush) against single awaited inserts of one row each. Median of 3 rounds.
 */
export async function runAuditBench(): Promise<string> {
  const results: Array<[Target, Figures]> = [];
  const notes: string[] = [];
  results.push([{ label: 'SQLite (file, WAL, synchronous=FULL)', target: 20 }, await sqliteFigures()]);
  const pgUrl = process.env.SECURITY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const pgHost = (() => {
    try {
      const u = new URL(pgUrl);
      return `${u.hostname}:${u.port || '5432'}`;
    } catch {
      return 'the configured server';
    }
  })();
  try {
    results.push([{ label: 'PostgreSQL', target: 10 }, await postgresFigures(pgUrl)]);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    notes.push(`PostgreSQL skipped: ${pgHost} unreachable${typeof code === 'string' ? ` (${code})` : ''}.`);
  }
  const lines = [
    `### Audit log: events per second, batched writer against single awaited inserts (${formatOps(BATCHED_EVENTS)} batched, ${formatOps(SINGLE_EVENTS)} single, median of ${ROUNDS} rounds)`,
    '',
    table(
      ['database', 'single inserts (events/s)', 'batched writer (events/s)', 'batched / single', 'target'],
      results.map(([t, f]) => [t.label, formatOps(f.single), formatOps(f.batched), ratio(f.batched, f.single), `≥ ${t.target} ${f.batched / f.single >= t.target ? '(met)' : '(missed)'}`]),
    ),
    '',
    'Write strategies for the same 20,000 prepared rows (events/s):',
    '',
    table(
      ['strategy', ...results.map(([t]) => t.label)],
      STRATEGIES.map(([name], k) => [name, ...results.map(([, f]) => formatOps(f.strategies[k]![1]))]),
    ),
  ];
  for (const [t, f] of results) {
    if (f.floor === undefined) continue;
    lines.push(
      '',
      `Floor on ${t.label}: better-sqlite3 alone (one prepared single-row statement in one transaction, no Kysely, rows prepared) writes ${formatOps(f.floor)} events/s, ${ratio(f.floor, f.single)} times the single inserts.`,
    );
  }
  if (notes.length > 0) lines.push('', ...notes);
  return lines.join('\n');
}
