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
import { createDropTally } from './drop-tally.js';
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
  /** Of those, warning, error and critical events (warning kept up to `maxRetainedEvents`, error and critical always). */
  readonly pendingWarningOrAbove: number;
  /** Info events dropped and not yet reported in the log (their `sys_audit_events_dropped` row is unwritten). */
  readonly droppedEvents: number;
  /** Warning events not kept at `maxRetainedEvents` and not yet reported in the log. */
  readonly droppedWarnings: number;
  /** Consecutive failed attempts, from 1. */
  readonly attempt: number;
  /** Delay before the next attempt; absent once the log is closed (no more attempts). */
  readonly retryInMs?: number;
}

/** Counters of an audit log since it was created. */
export interface AuditLogStats {
  /** Events written to the database. */
  readonly written: number;
  /** Info events dropped (buffer full, or `maxRetainedEvents` reached), and events of any severity recorded after close. */
  readonly dropped: number;
  /**
   * Warning events not kept because `maxRetainedEvents` events were held. Each is counted per event
   * type and reported in the log by an error-level `sys_audit_events_dropped` event.
   */
  readonly droppedWarnings: number;
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
   * dropped, counted and reported; warning and above are kept (up to `maxRetainedEvents`). @default 10000
   */
  readonly maxBufferedEvents?: number;
  /**
   * The hard cap on events held in memory: waiting, being written, or kept for a retry while the
   * database is down. At least `maxBufferedEvents`. Below it no warning, error or critical event is
   * dropped. Once it is reached, one error is logged and:
   * - error and critical events are still always kept (rare, raised by the library itself);
   * - warning events are not kept but counted per event type, and the next write carries an
   *   error-level `sys_audit_events_dropped` event with the counts
   *   (`{ droppedSeverity: 'warning', droppedEvents: total, <event type>: count, … }`);
   * - info events are dropped and counted as beyond `maxBufferedEvents`.
   *
   * So a flood of warning events (refused API keys during a database outage) cannot grow memory
   * without bound, and what was not kept is still on record by type and count.
   * About 0.4 KiB per event with short fields, up to about 5 KiB with full metadata.
   * @default 100000, or twice `maxBufferedEvents` when that is larger
   */
  readonly maxRetainedEvents?: number;
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
   * event is counted and not written; an info event beyond `maxBufferedEvents`, or a warning or info
   * event once `maxRetainedEvents` are held, is dropped and counted per type.
   */
  record(event: AuditEventInput): void;
  /**
   * Writes every event recorded before the call.
   * @throws ERR_AUDIT_WRITE_FAILED when the database refuses the write; warning and above stay
   *   buffered (warning up to `maxRetainedEvents`) and are retried with backoff
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

const DEFAULT_MAX_BUFFERED = 10_000;
const DEFAULT_MAX_RETAINED = 100_000;

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
    maxRetainedEvents: ms(100_000_000).optional(),
    retry: z.object({ initialDelayMs: ms(3_600_000), maxDelayMs: ms(3_600_000) }).partial().strict().optional(),
    clock: z.custom<Clock>((v) => typeof v === 'function').optional(),
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
    onWriteFailure: z.custom<(f: AuditWriteFailure) => void>((v) => typeof v === 'function').optional(),
    timers: z
      .custom<AuditTimers>((v) => typeof v === 'object' && v !== null && typeof (v as AuditTimers).setTimeout === 'function' && typeof (v as AuditTimers).clearTimeout === 'function')
      .optional(),
  })
  .strict()
  .refine((o) => o.maxRetainedEvents === undefined || o.maxRetainedEvents >= (o.maxBufferedEvents ?? DEFAULT_MAX_BUFFERED), {
    path: ['maxRetainedEvents'],
    message: 'at least maxBufferedEvents',
  });

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
 * Invariant: error and critical events are never dropped, and warning events are never dropped
 * while fewer than `maxRetainedEvents` events are held in memory. When the database is unavailable
 * events stay in memory and are retried with exponential backoff; each failure is logged as an error,
 * reported to `onWriteFailure`, and a critical `sys_audit_write_fail` event is queued so the outage
 * itself lands in the log.
 *
 * Invariant: memory is bounded. Info events are dropped beyond `maxBufferedEvents`; at
 * `maxRetainedEvents` warning events are dropped too (error and critical still kept). No drop is
 * silent: each is counted per event type and reported by a `sys_audit_events_dropped` event, a
 * warning for info drops and an error for warning drops, with `droppedEvents` and per-type counts.
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
 * @throws ERR_INVALID_OPTIONS for options out of bounds (`batchSize` 1–2000, positive delays,
 *   `maxRetainedEvents` below `maxBufferedEvents`)
 */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  const opts = parseOptions(optionsSchema, options, 'createAuditLog');
  const db = opts.db;
  const tables = opts.tables ?? DEFAULT_TABLE_NAMES;
  const batchSize = opts.batchSize ?? 200;
  const flushIntervalMs = opts.flushIntervalMs ?? 1000;
  const maxBuffered = opts.maxBufferedEvents ?? DEFAULT_MAX_BUFFERED;
  const maxRetained = opts.maxRetainedEvents ?? Math.max(DEFAULT_MAX_RETAINED, 2 * maxBuffered);
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
  let droppedWarnings = 0;
  let invalid = 0;
  let failures = 0;
  let consecutiveFailures = 0;
  let invalidUnreported = 0;
  const invalidFields = new Set<InvalidField>();
  // Drops not yet in the log, per type, each with its unwritten `sys_audit_events_dropped` row,
  // kept so later drops add to its counts.
  const infoDrops = createDropTally('info', (metadata) => ({ ...systemRow('sys_audit_events_dropped', 'warning', {}), metadata }));
  const warningDrops = createDropTally('warning', (metadata) => ({ ...systemRow('sys_audit_events_dropped', 'error', {}), metadata }));
  let intervalTimer: { handle: unknown } | undefined;
  let retryTimer: { handle: unknown } | undefined;
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let capLogged = false;
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
    // Held in memory: waiting, being written, or kept for a retry.
    const held = buffer.length + inFlight;
    if (held >= maxRetained) {
      logCapReached();
      if (row.severity === 'warning') {
        droppedWarnings++;
        warningDrops.add(row.event_type);
        // Events are held, so a write is running or scheduled: the report goes with it (see afterPass).
        return;
      }
    }
    if (row.severity === 'info' && (buffer.length >= maxBuffered || held >= maxRetained)) {
      dropped++;
      infoDrops.add(row.event_type);
      return;
    }
    buffer.push(row);
    if (held + 1 >= maxRetained) logCapReached();
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
    else if (buffer.length > 0 || unreportedDrops()) armInterval();
  }

  /** Drops counted since the last write began, whose report is not queued yet. */
  function unreportedDrops(): boolean {
    return infoDrops.hasNew() || warningDrops.hasNew();
  }

  async function runPass(): Promise<void> {
    disarm();
    reportInvalid();
    // Not in flight (one write at a time): an unwritten report row is safe to update here.
    for (const tally of [infoDrops, warningDrops]) {
      const report = tally.report();
      if (report !== undefined) buffer.push(report);
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
    infoDrops.settle(rows, result.written);
    warningDrops.settle(rows, result.written);
    if (result.written === rows.length) {
      if (consecutiveFailures > 0) logger.info({ failedAttempts: consecutiveFailures }, 'audit log writes again');
      consecutiveFailures = 0;
      // Logged again only after memory has come well down, not on every write under a steady flood.
      if (buffer.length < maxRetained / 2) capLogged = false;
      return;
    }
    throw keepAfterFailure(rows.slice(result.written), result.error);
  }

  /**
   * Puts back what a failed write left: every warning and above, info events while the buffer has
   * room. This never adds to what is held (the rows were held while being written), so the cap holds.
   */
  function keepAfterFailure(unwritten: AuditRow[], error: unknown): SecurityError {
    failures++;
    consecutiveFailures++;
    const kept: AuditRow[] = [];
    for (const row of unwritten) {
      if (row.severity !== 'info' || kept.length + buffer.length < maxBuffered) {
        kept.push(row);
      } else {
        dropped++;
        infoDrops.add(row.event_type);
      }
    }
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
      droppedEvents: infoDrops.unwritten(),
      droppedWarnings: warningDrops.unwritten(),
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
    if (buffer.length >= maxRetained) logCapReached();
    return new SecurityError('ERR_AUDIT_WRITE_FAILED', 'the audit log could not be written', {
      // The driver's error is kept for the operator; rows are redacted before they reach it.
      cause: error,
      details: { errorName, ...(errorCode === undefined ? {} : { errorCode }), pendingEvents: buffer.length, pendingWarningOrAbove, attempt: consecutiveFailures },
    });
  }

  function systemRow(type: 'sys_audit_events_dropped' | 'sys_audit_write_fail', severity: 'warning' | 'error' | 'critical', metadata: Record<string, string | number | null>): AuditRow {
    return sanitizeEvent({ type, severity, outcome: 'failure', actor: { type: 'system' }, metadata }, clock()) as AuditRow;
  }

  function reportInvalid(): void {
    if (invalidUnreported === 0) return;
    logger.warn({ invalidEvents: invalidUnreported, fields: [...invalidFields] }, 'audit events were invalid and not written');
    invalidUnreported = 0;
    invalidFields.clear();
  }

  function logCapReached(): void {
    if (capLogged) return;
    capLogged = true;
    logger.error(
      { code: 'ERR_AUDIT_WRITE_FAILED', pendingEvents: buffer.length + inFlight, maxRetainedEvents: maxRetained, retrying: consecutiveFailures > 0 },
      'audit events held in memory reached maxRetainedEvents; further warning events are counted per type, not kept, until the backlog is written (error and critical still kept)',
    );
  }

  function armInterval(): void {
    if (intervalTimer !== undefined || closing !== undefined) return;
    intervalTimer = {
      handle: timers.setTimeout(() => {
        intervalTimer = undefined;
        reportInvalid();
        if ((buffer.length > 0 || unreportedDrops()) && retryTimer === undefined) writeInBackground();
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
    stats: () => ({ written, dropped, droppedWarnings, invalid, pending: buffer.length + inFlight, failures, retrying: consecutiveFailures > 0 }),
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
