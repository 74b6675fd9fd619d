import type { Kysely } from 'kysely';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { SecurityError } from '../core/errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import type { SecurityDatabase } from '../storage/schema.js';
import { DEFAULT_TABLE_NAMES, type TableNames } from '../storage/table-names.js';
import { countAuditEvents, queryAuditLog, type AuditCount, type AuditCountQuery, type AuditQuery, type AuditQueryResult } from './audit-query.js';
import type { AuditEventInput, AuditSink } from './events.js';
import { DEFAULT_WRITE_LIMITS, writeAuditRows } from './kysely-audit-store.js';
import { sanitizeEvent, type AuditRow, type InvalidField } from './sanitize.js';

/** Timer functions, injectable so tests drive time. Handles returned by Node are `unref`'d. */
export interface AuditTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Reported on every failed write: the hook for alerting (the log itself may be what is down). */
export interface AuditWriteFailure {
  readonly code: 'ERR_AUDIT_WRITE_FAILED';
  /** The driver error's name (`error.name`), never its message, which can echo row values. */
  readonly errorName: string;
  /** The driver's error code when it has one (`ECONNREFUSED`, `42P01`, `SQLITE_BUSY`, …). */
  readonly errorCode?: string;
  /** Events held in memory for the next attempt. */
  readonly pendingEvents: number;
  /** Of those, warning, error and critical events (never dropped). */
  readonly pendingWarningOrAbove: number;
  /** Info events dropped so far and not yet reported in the log. */
  readonly droppedEvents: number;
  /** Consecutive failed attempts, from 1. */
  readonly attempt: number;
  /** Delay before the next attempt; absent once the log is closed (no more attempts). */
  readonly retryInMs?: number;
}

/** Counters of an audit log since it was created. */
export interface AuditLogStats {
  /** Events written to the database. */
  readonly written: number;
  /** Info events dropped (buffer full, or recorded after close). */
  readonly dropped: number;
  /** Events refused by `record` (bad type, severity, outcome or actor) and not written. */
  readonly invalid: number;
  /** Events waiting or being written. */
  readonly pending: number;
  /** Failed write attempts. */
  readonly failures: number;
  /** True from a failed write until a write succeeds again. */
  readonly retrying: boolean;
}

/** Options of {@link createAuditLog}. */
export interface AuditLogOptions {
  readonly db: Kysely<SecurityDatabase>;
  /** @default DEFAULT_TABLE_NAMES */
  readonly tables?: TableNames;
  /** Buffered events that start a write at once, and rows per INSERT statement. @default 200 */
  readonly batchSize?: number;
  /** Longest time an event waits in the buffer. @default 1000 */
  readonly flushIntervalMs?: number;
  /**
   * Events waiting to be written (not counting a write in progress). Beyond it, info events are
   * dropped and counted; warning and above are always kept. @default 10000
   */
  readonly maxBufferedEvents?: number;
  /** Events held in memory beyond which one error is logged (warning and above still kept). @default 100000 */
  readonly memoryWarningEvents?: number;
  /** Exponential backoff between failed writes. @default { initialDelayMs: 100, maxDelayMs: 30000 } */
  readonly retry?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  /** @default Date.now */
  readonly clock?: Clock;
  /** @default process warnings for warn and error */
  readonly logger?: Logger;
  /** Called on every failed write; route it to an alert sink. Must not throw (a throw is logged). */
  readonly onWriteFailure?: (failure: AuditWriteFailure) => void;
  /** @default the global setTimeout / clearTimeout, unref'd */
  readonly timers?: AuditTimers;
}

/** The batched audit writer: an {@link AuditSink} that writes to `security_audit_logs`. */
export interface AuditLog extends AuditSink {
  /**
   * Queues one event: synchronous, O(1), never throws, never waits on the database. An invalid
   * event is counted and not written; an info event beyond `maxBufferedEvents` is dropped and counted.
   */
  record(event: AuditEventInput): void;
  /**
   * Writes every event recorded before the call.
   * @throws ERR_AUDIT_WRITE_FAILED when the database refuses the write; warning and above stay
   *   buffered and are retried with backoff
   */
  flush(): Promise<void>;
  /** Stops the timers and makes a last write; what cannot be written is reported, not thrown. Idempotent. */
  close(): Promise<void>;
  stats(): AuditLogStats;
  /** {@link queryAuditLog} on this log's database and table. @throws ERR_INVALID_INPUT */
  query(query?: AuditQuery): Promise<AuditQueryResult>;
  /** {@link countAuditEvents} on this log's database and table. @throws ERR_INVALID_INPUT */
  count(query: AuditCountQuery): Promise<AuditCount[]>;
}

const ms = (max: number) => z.number().int().min(1).max(max);
const optionsSchema = z
  .object({
    db: z.custom<Kysely<SecurityDatabase>>(
      (v) => typeof v === 'object' && v !== null && typeof (v as Kysely<SecurityDatabase>).insertInto === 'function' && typeof (v as Kysely<SecurityDatabase>).transaction === 'function',
    ),
    tables: z.custom<TableNames>((v) => typeof v === 'object' && v !== null && typeof (v as TableNames).auditLogs === 'string').optional(),
    // 2,000 rows of 11 columns stay under SQLite's 32,766 bound parameters.
    batchSize: ms(2000).optional(),
    flushIntervalMs: ms(3_600_000).optional(),
    maxBufferedEvents: ms(10_000_000).optional(),
    memoryWarningEvents: ms(100_000_000).optional(),
    retry: z.object({ initialDelayMs: ms(3_600_000), maxDelayMs: ms(3_600_000) }).partial().strict().optional(),
    clock: z.custom<Clock>((v) => typeof v === 'function').optional(),
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
    onWriteFailure: z.custom<(f: AuditWriteFailure) => void>((v) => typeof v === 'function').optional(),
    timers: z
      .custom<AuditTimers>((v) => typeof v === 'object' && v !== null && typeof (v as AuditTimers).setTimeout === 'function' && typeof (v as AuditTimers).clearTimeout === 'function')
      .optional(),
  })
  .strict();

const nodeTimers: AuditTimers = {
  setTimeout: (callback, delay) => {
    const handle = setTimeout(callback, delay);
    // A pending audit flush must not keep the process alive; close() writes what is left.
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

const ignore = (): void => {};

/**
 * Creates the batched audit writer. `record` only validates and buffers; writes happen off the
 * request path in multi-row inserts, when `batchSize` events are waiting, after `flushIntervalMs`,
 * on `flush()` and on `close()`, one write at a time.
 *
 * Invariant: warning, error and critical events are never dropped. When the database is
 * unavailable they stay in memory and are retried with exponential backoff; each failure is logged
 * as an error, reported to `onWriteFailure`, and a critical `sys_audit_write_fail` event is queued so
 * the outage itself lands in the log. Only info events are dropped (buffer full), counted, and reported
 * by a `sys_audit_events_dropped` warning event with the count.
 *
 * Invariant: no key value, plaintext or data key reaches a row, an error or a log line: metadata
 * under a sensitive key name is redacted, and errors and logs carry driver error names and codes,
 * never messages or values.
 *
 * @example
 * const audit = createAuditLog({ db, tables, onWriteFailure: (f) => alerts.raise('audit_down', f) })
 * audit.record({ type: 'authn_login_fail', severity: 'warning', outcome: 'failure',
 *   actor: { type: 'user', id: 'u_42' }, sourceIp: req.ip, requestId: req.id, metadata: { reason: 'bad_password' } })
 * process.on('SIGTERM', () => void audit.close())
 *
 * @throws ERR_INVALID_OPTIONS for options out of bounds (`batchSize` 1–2000, positive delays)
 */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  const opts = parseOptions(optionsSchema, options, 'createAuditLog');
  const db = opts.db;
  const tables = opts.tables ?? DEFAULT_TABLE_NAMES;
  const batchSize = opts.batchSize ?? 200;
  const flushIntervalMs = opts.flushIntervalMs ?? 1000;
  const maxBuffered = opts.maxBufferedEvents ?? 10_000;
  const memoryWarningEvents = opts.memoryWarningEvents ?? Math.max(100_000, 2 * maxBuffered);
  const initialDelayMs = opts.retry?.initialDelayMs ?? 100;
  const maxDelayMs = Math.max(initialDelayMs, opts.retry?.maxDelayMs ?? 30_000);
  const clock = opts.clock ?? systemClock;
  const hostLogger = opts.logger ?? defaultLogger;
  // A throwing logger must not make record() throw or leave a write half accounted.
  const logger: Logger = {
    debug: (obj, msg) => safely(() => hostLogger.debug(obj, msg)),
    info: (obj, msg) => safely(() => hostLogger.info(obj, msg)),
    warn: (obj, msg) => safely(() => hostLogger.warn(obj, msg)),
    error: (obj, msg) => safely(() => hostLogger.error(obj, msg)),
  };
  const timers = opts.timers ?? nodeTimers;
  const limits = { rowsPerStatement: batchSize, rowsPerTransaction: DEFAULT_WRITE_LIMITS.rowsPerTransaction };

  let buffer: AuditRow[] = [];
  let inFlight = 0;
  let written = 0;
  let dropped = 0;
  let invalid = 0;
  let failures = 0;
  let consecutiveFailures = 0;
  let droppedUnreported = 0;
  let invalidUnreported = 0;
  const invalidFields = new Set<InvalidField>();
  // The unwritten `sys_audit_events_dropped` row, kept so later drops add to its count.
  let dropReport: { row: AuditRow; count: number } | undefined;
  let intervalTimer: { handle: unknown } | undefined;
  let retryTimer: { handle: unknown } | undefined;
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let memoryWarned = false;
  let recordedAfterClose = false;

  function record(event: AuditEventInput): void {
    let row: AuditRow | InvalidField;
    try {
      row = sanitizeEvent(event, clock());
    } catch {
      // A hostile input (a throwing getter, a revoked proxy): refused like any invalid event.
      row = 'event';
    }
    if (typeof row === 'string') {
      invalid++;
      invalidUnreported++;
      invalidFields.add(row);
      armInterval();
      return;
    }
    if (closing !== undefined) {
      dropped++;
      if (!recordedAfterClose) {
        recordedAfterClose = true;
        logger.error({ code: 'ERR_AUDIT_WRITE_FAILED', eventType: row.event_type, severity: row.severity }, 'audit event recorded after close was not written');
      }
      return;
    }
    if (row.severity === 'info' && buffer.length >= maxBuffered) {
      dropped++;
      droppedUnreported++;
      return;
    }
    buffer.push(row);
    if (buffer.length >= memoryWarningEvents) warnMemory();
    if (retryTimer !== undefined) return; // the retry timer owns the next attempt
    if (buffer.length >= batchSize) {
      if (running === undefined) writeInBackground();
    } else {
      armInterval();
    }
  }

  function requestFlush(): Promise<void> {
    if (running === undefined) {
      running = runPass().finally(() => {
        running = undefined;
        afterPass();
      });
      return running;
    }
    // Coalesce: every flush asked for during a write shares the one write that follows it.
    queued ??= running.then(ignore, ignore).then(() => {
      queued = undefined;
      return requestFlush();
    });
    return queued;
  }

  function writeInBackground(): void {
    requestFlush().catch(ignore); // failures are logged, reported and retried in runPass
  }

  function afterPass(): void {
    if (closing !== undefined || queued !== undefined || retryTimer !== undefined) return;
    if (buffer.length >= batchSize) writeInBackground();
    else if (buffer.length > 0) armInterval();
  }

  async function runPass(): Promise<void> {
    disarm();
    reportInvalid();
    if (droppedUnreported > 0) {
      if (dropReport === undefined) {
        dropReport = { row: systemRow('sys_audit_events_dropped', 'warning', { droppedEvents: droppedUnreported }), count: droppedUnreported };
        buffer.push(dropReport.row);
      } else {
        // Not in flight (one write at a time): safe to update before this write takes it.
        dropReport.count += droppedUnreported;
        dropReport.row.metadata = JSON.stringify({ droppedEvents: dropReport.count });
      }
      droppedUnreported = 0;
    }
    const rows = buffer;
    buffer = [];
    if (rows.length === 0) return;
    inFlight = rows.length;
    // writeAuditRows reports instead of throwing; the catch covers a host's broken Kysely instance.
    const result = await writeAuditRows(db, tables, rows, limits).catch((error: unknown) => ({ written: 0, reduced: 0, error }));
    inFlight = 0;
    written += result.written;
    if (result.reduced > 0) {
      logger.warn({ reducedEvents: result.reduced }, 'audit events the database refused were written in a reduced form (ASCII, no metadata)');
    }
    if (dropReport !== undefined && rows.indexOf(dropReport.row, result.written) === -1) dropReport = undefined;
    if (result.written === rows.length) {
      if (consecutiveFailures > 0) logger.info({ failedAttempts: consecutiveFailures }, 'audit log writes again');
      consecutiveFailures = 0;
      if (buffer.length < memoryWarningEvents / 2) memoryWarned = false;
      return;
    }
    throw keepAfterFailure(rows.slice(result.written), result.error);
  }

  /** Puts back what a failed write left: every warning and above, info events while room remains. */
  function keepAfterFailure(unwritten: AuditRow[], error: unknown): SecurityError {
    failures++;
    consecutiveFailures++;
    const kept: AuditRow[] = [];
    let lost = 0;
    for (const row of unwritten) {
      if (row.severity !== 'info' || kept.length + buffer.length < maxBuffered) kept.push(row);
      else lost++;
    }
    dropped += lost;
    droppedUnreported += lost;
    buffer = kept.concat(buffer);
    const { errorName, errorCode } = describeError(error);
    if (consecutiveFailures === 1) {
      buffer.push(systemRow('sys_audit_write_fail', 'critical', { errorName, errorCode: errorCode ?? null, pendingEvents: buffer.length }));
    }
    const pendingWarningOrAbove = buffer.reduce((n, row) => (row.severity === 'info' ? n : n + 1), 0);
    const retryInMs = closing === undefined ? Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(consecutiveFailures - 1, 30)) : undefined;
    const failure: AuditWriteFailure = {
      code: 'ERR_AUDIT_WRITE_FAILED',
      errorName,
      ...(errorCode === undefined ? {} : { errorCode }),
      pendingEvents: buffer.length,
      pendingWarningOrAbove,
      droppedEvents: droppedUnreported,
      attempt: consecutiveFailures,
      ...(retryInMs === undefined ? {} : { retryInMs }),
    };
    logger.error({ ...failure }, closing === undefined ? 'audit log cannot be written' : 'audit log cannot be written; closed with events unwritten');
    if (opts.onWriteFailure !== undefined) {
      try {
        opts.onWriteFailure(failure);
      } catch (hookError) {
        logger.warn({ errorName: describeError(hookError).errorName }, 'onWriteFailure threw');
      }
    }
    if (retryInMs !== undefined) armRetry(retryInMs);
    if (buffer.length >= memoryWarningEvents) warnMemory();
    return new SecurityError('ERR_AUDIT_WRITE_FAILED', 'the audit log could not be written', {
      // The driver's error is kept for the operator; rows are redacted before they reach it.
      cause: error,
      details: { errorName, ...(errorCode === undefined ? {} : { errorCode }), pendingEvents: buffer.length, pendingWarningOrAbove, attempt: consecutiveFailures },
    });
  }

  function systemRow(type: 'sys_audit_events_dropped' | 'sys_audit_write_fail', severity: 'warning' | 'critical', metadata: Record<string, string | number | null>): AuditRow {
    return sanitizeEvent({ type, severity, outcome: 'failure', actor: { type: 'system' }, metadata }, clock()) as AuditRow;
  }

  function reportInvalid(): void {
    if (invalidUnreported === 0) return;
    logger.warn({ invalidEvents: invalidUnreported, fields: [...invalidFields] }, 'audit events were invalid and not written');
    invalidUnreported = 0;
    invalidFields.clear();
  }

  function warnMemory(): void {
    if (memoryWarned) return;
    memoryWarned = true;
    logger.error(
      { code: 'ERR_AUDIT_WRITE_FAILED', pendingEvents: buffer.length, memoryWarningEvents },
      'audit events held in memory passed the warning level; warning and above are never dropped, so memory grows until the database is back',
    );
  }

  function armInterval(): void {
    if (intervalTimer !== undefined || closing !== undefined) return;
    intervalTimer = {
      handle: timers.setTimeout(() => {
        intervalTimer = undefined;
        reportInvalid();
        if (buffer.length > 0 && retryTimer === undefined) writeInBackground();
      }, flushIntervalMs),
    };
  }

  function armRetry(delay: number): void {
    if (retryTimer !== undefined) timers.clearTimeout(retryTimer.handle);
    retryTimer = {
      handle: timers.setTimeout(() => {
        retryTimer = undefined;
        writeInBackground();
      }, delay),
    };
  }

  function disarm(): void {
    if (intervalTimer !== undefined) timers.clearTimeout(intervalTimer.handle);
    if (retryTimer !== undefined) timers.clearTimeout(retryTimer.handle);
    intervalTimer = undefined;
    retryTimer = undefined;
  }

  return {
    record,
    flush: requestFlush,
    close() {
      closing ??= (async () => {
        disarm();
        // Failures are reported (logged, onWriteFailure) by the write itself, as final.
        await requestFlush().catch(ignore);
        disarm();
        reportInvalid();
      })();
      return closing;
    },
    stats: () => ({ written, dropped, invalid, pending: buffer.length + inFlight, failures, retrying: consecutiveFailures > 0 }),
    query: (query) => queryAuditLog(db, tables, query),
    count: (query) => countAuditEvents(db, tables, query),
  };
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // Logging is best effort; the audit log's own state must stay consistent.
  }
}

/** Names and codes only: a driver's message can quote the row it refused. */
function describeError(error: unknown): { errorName: string; errorCode?: string } {
  if (typeof error !== 'object' || error === null) return { errorName: typeof error };
  const e = error as { name?: unknown; code?: unknown };
  const errorName = typeof e.name === 'string' ? e.name.slice(0, 64) : 'Error';
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? String(e.code).slice(0, 64) : undefined;
  return code === undefined ? { errorName } : { errorName, errorCode: code };
}
