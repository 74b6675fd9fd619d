import type { Kysely } from 'kysely';
import type { SecurityDatabase } from '../storage/schema.js';
import type { TableNames } from '../storage/table-names.js';
import type { AuditRow } from './sanitize.js';

/** How rows are grouped when written. */
export interface AuditWriteLimits {
  /** Rows per multi-row INSERT. */
  readonly rowsPerStatement: number;
  /** Rows per transaction (several statements, one commit). */
  readonly rowsPerTransaction: number;
}

/**
 * The writer's defaults: statements of `batchSize` rows (200), a commit per 2,000 rows. Measured
 * with `npm run bench` (20,000 rows): a commit per 2,000 rows writes 15–30 % more events per second
 * than a commit per statement on SQLite and about 10 % more on PostgreSQL; one commit for all 20,000
 * adds about 15 % more on SQLite, but better-sqlite3 runs synchronously, so that would stall the
 * event loop for the whole backlog instead of about 20 ms at a time. Statements of 1,000 rows
 * instead of 200 gain nothing reliable on SQLite and lose 5–15 % on PostgreSQL. 200 rows of 11
 * columns are 2,200 bound parameters, far inside every dialect's limit (SQLite 32,766, PostgreSQL
 * and MySQL 65,535).
 */
export const DEFAULT_WRITE_LIMITS: AuditWriteLimits = Object.freeze({ rowsPerStatement: 200, rowsPerTransaction: 2000 });

/** What a write achieved. Reported, never thrown: the writer decides what to keep. */
export interface AuditWriteResult {
  /** `rows[0 .. written)` are in the database; the rest are not. */
  readonly written: number;
  /** Of the written rows, those the database refused as they were and took in a reduced form. */
  readonly reduced: number;
  /** Why the write stopped, when `written < rows.length`. */
  readonly error?: unknown;
}

/**
 * Writes audit rows in transactions of multi-row inserts. When a transaction fails while the table
 * still answers a read, one row is to blame (a character the column's charset refuses, a host's
 * trigger or check): the rows are then written chunk by chunk and row by row, and a refused row is
 * written in a reduced form (printable ASCII, metadata dropped), so one bad event never blocks the
 * log. When the table does not answer, the database is unavailable and the write stops there.
 *
 * Delivery is at least once: a commit whose acknowledgement is lost is written again by the retry.
 */
export async function writeAuditRows(
  db: Kysely<SecurityDatabase>,
  tables: TableNames,
  rows: readonly AuditRow[],
  limits: AuditWriteLimits = DEFAULT_WRITE_LIMITS,
): Promise<AuditWriteResult> {
  const table = tables.auditLogs;
  let written = 0;
  let reduced = 0;
  while (written < rows.length) {
    // better-sqlite3 runs each statement synchronously on this thread: between transactions,
    // let requests that arrived meanwhile run, so a backlog never blocks the event loop for long.
    if (written > 0) await new Promise((resolve) => setImmediate(resolve));
    const end = Math.min(rows.length, written + limits.rowsPerTransaction);
    try {
      if (end - written <= limits.rowsPerStatement) {
        // One statement is atomic on its own: no transaction round trips.
        await db.insertInto(table).values(rows.slice(written, end)).execute();
      } else {
        await db.transaction().execute(async (trx) => {
          for (let i = written; i < end; i += limits.rowsPerStatement) {
            await trx.insertInto(table).values(rows.slice(i, Math.min(end, i + limits.rowsPerStatement))).execute();
          }
        });
      }
      written = end;
    } catch (error) {
      if (!(await answers(db, tables))) return { written, reduced, error };
      const isolated = await writeOneByOne(db, tables, rows, written, end, limits.rowsPerStatement);
      reduced += isolated.reduced;
      written = isolated.next;
      if (isolated.error !== undefined) return { written, reduced, error: isolated.error };
    }
  }
  return { written, reduced };
}

async function answers(db: Kysely<SecurityDatabase>, tables: TableNames): Promise<boolean> {
  try {
    await db.selectFrom(tables.auditLogs).select('id').limit(1).execute();
    return true;
  } catch {
    // The table does not answer a read: the database (or the table) is unavailable.
    return false;
  }
}

async function writeOneByOne(
  db: Kysely<SecurityDatabase>,
  tables: TableNames,
  rows: readonly AuditRow[],
  from: number,
  to: number,
  rowsPerStatement: number,
): Promise<{ next: number; reduced: number; error?: unknown }> {
  const table = tables.auditLogs;
  let reduced = 0;
  for (let i = from; i < to; i += rowsPerStatement) {
    const end = Math.min(to, i + rowsPerStatement);
    try {
      await db.insertInto(table).values(rows.slice(i, end)).execute();
      continue;
    } catch {
      // A row of this chunk is refused: find it row by row below.
    }
    for (let k = i; k < end; k++) {
      const row = rows[k]!;
      try {
        await db.insertInto(table).values(row).execute();
        continue;
      } catch {
        // Refused as it is: try the reduced form below.
      }
      try {
        await db.insertInto(table).values(reducedRow(row)).execute();
        reduced++;
      } catch (error) {
        // Even the reduced form is refused: the database itself is failing now.
        return { next: k, reduced, error };
      }
    }
  }
  return { next: to, reduced };
}

const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/g;
const ascii = (value: string | null): string | null => (value === null ? null : value.replace(NOT_PRINTABLE_ASCII, '?'));

/** The event without what a database can refuse: only printable ASCII, metadata replaced by a marker. */
export function reducedRow(row: AuditRow): AuditRow {
  return {
    ...row,
    actor_id: ascii(row.actor_id),
    source_ip: ascii(row.source_ip),
    resource: ascii(row.resource),
    action: ascii(row.action),
    request_id: ascii(row.request_id),
    metadata: '{"_reduced":true}',
  };
}
