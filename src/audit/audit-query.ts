import type { Kysely, SelectQueryBuilder } from 'kysely';
import { z } from 'zod';
import { parseOptions } from '../core/options.js';
import { toMillis, type SecurityAuditLogsTable, type SecurityDatabase, type Severity } from '../storage/schema.js';
import type { TableNames } from '../storage/table-names.js';
import { SEVERITY_RANK } from './events.js';

/** One row of the audit log as the query API returns it. */
export interface AuditRecord {
  /** The row id, as a string on every database (PostgreSQL returns BIGINT as a string). */
  readonly id: string;
  /** Epoch milliseconds. */
  readonly occurredAt: number;
  readonly eventType: string;
  readonly severity: Severity;
  readonly outcome: SecurityAuditLogsTable['outcome'];
  readonly actorType: SecurityAuditLogsTable['actor_type'];
  readonly actorId: string | null;
  readonly sourceIp: string | null;
  readonly resource: string | null;
  readonly action: string | null;
  readonly requestId: string | null;
  readonly metadata: Readonly<Record<string, string | number | boolean | null>> | null;
}

/** Filters shared by {@link queryAuditLog} and {@link countAuditEvents}. Every filter is ANDed. */
export interface AuditFilters {
  /** Epoch milliseconds, inclusive. */
  readonly from?: number;
  /** Epoch milliseconds, exclusive. */
  readonly to?: number;
  /** Any of these event types. */
  readonly types?: readonly string[];
  /** Any of these severities. */
  readonly severities?: readonly Severity[];
  /** This severity and above (combined with `severities` when both are given). */
  readonly minSeverity?: Severity;
  readonly actorId?: string;
  readonly actorType?: SecurityAuditLogsTable['actor_type'];
  readonly sourceIp?: string;
  readonly outcome?: SecurityAuditLogsTable['outcome'];
}

/** Options of {@link queryAuditLog}. */
export interface AuditQuery extends AuditFilters {
  /** Events per page. @default 100 (at most 1000) */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly before?: string;
}

/** A page of events, newest first. */
export interface AuditQueryResult {
  readonly events: AuditRecord[];
  /** Pass as `before` for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

/** What {@link countAuditEvents} groups by. */
export type AuditGroupBy = 'source_ip' | 'actor_id' | 'event_type' | 'severity';

/** Options of {@link countAuditEvents}. */
export interface AuditCountQuery extends AuditFilters {
  readonly groupBy: AuditGroupBy;
  /** Only groups with at least this many events (a threshold). @default 1 */
  readonly minCount?: number;
  /** Groups returned, largest first. @default 1000 (at most 10000) */
  readonly limit?: number;
}

/** One group and its number of events. `key` is null for events without the grouped column. */
export interface AuditCount {
  readonly key: string | null;
  readonly count: number;
}

const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
// Epoch milliseconds up to the largest date JavaScript represents.
const millis = z.number().int().min(0).max(8.64e15);
const filterShape = {
  from: millis.optional(),
  to: millis.optional(),
  types: z.array(z.string().max(64).regex(/^[a-z][a-z0-9_]*$/)).min(1).max(100).optional(),
  severities: z.array(z.enum(SEVERITIES)).min(1).max(4).optional(),
  minSeverity: z.enum(SEVERITIES).optional(),
  actorId: z.string().min(1).max(255).optional(),
  actorType: z.enum(['user', 'api_key', 'system']).optional(),
  sourceIp: z.string().min(1).max(64).optional(),
  outcome: z.enum(['success', 'failure', 'unknown']).optional(),
};
const window = (value: { from?: number | undefined; to?: number | undefined }) =>
  value.from === undefined || value.to === undefined || value.from <= value.to;
const CURSOR = /^(\d{1,16})\.(\d{1,15})$/;
const querySchema = z
  .object({ ...filterShape, limit: z.number().int().min(1).max(1000).optional(), before: z.string().regex(CURSOR).optional() })
  .strict()
  .refine(window, { path: ['to'] });
const countSchema = z
  .object({
    ...filterShape,
    groupBy: z.enum(['source_ip', 'actor_id', 'event_type', 'severity']),
    minCount: z.number().int().min(1).optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
  })
  .strict()
  .refine(window, { path: ['to'] });

type AuditSelect<O> = SelectQueryBuilder<SecurityDatabase, 'security_audit_logs', O>;

/**
 * Reads the audit log, newest first (by time, then id), with keyset pagination. Each filter maps
 * onto an index of the migration (`event_type`, `severity`, `actor_id`, `source_ip`, each followed
 * by `occurred_at`), so a page costs one index range scan whatever the table's size. Events still
 * in a writer's buffer are not seen until it flushes.
 *
 * @example
 * const { events, nextCursor } = await queryAuditLog(db, tables, {
 *   from: Date.now() - 3_600_000, types: ['authn_login_fail'], sourceIp: '203.0.113.7', limit: 50,
 * })
 * const next = nextCursor ? await queryAuditLog(db, tables, { ...sameFilters, before: nextCursor }) : undefined
 *
 * @throws ERR_INVALID_INPUT for a filter that is not valid (an unknown key, a bad type or severity,
 *   `from` after `to`, a limit outside 1–1000, a malformed cursor); database errors as thrown by the driver
 */
export async function queryAuditLog(db: Kysely<SecurityDatabase>, tables: TableNames, query: AuditQuery = {}): Promise<AuditQueryResult> {
  const q = parseOptions(querySchema, query, 'queryAuditLog', 'ERR_INVALID_INPUT');
  const severities = severityFilter(q);
  if (severities !== undefined && severities.length === 0) return { events: [] };
  const limit = q.limit ?? 100;
  let select = filtered(db.selectFrom(tables.auditLogs).selectAll(), q, severities);
  if (q.before !== undefined) {
    const [, at, id] = CURSOR.exec(q.before)!;
    const time = Number(at);
    const before = Number(id);
    select = select.where((eb) => eb.or([eb('occurred_at', '<', time), eb.and([eb('occurred_at', '=', time), eb('id', '<', before)])]));
  }
  const rows = await select.orderBy('occurred_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  const events = rows.slice(0, limit).map(toRecord);
  const last = events.at(-1);
  return rows.length > limit && last !== undefined ? { events, nextCursor: `${last.occurredAt}.${last.id}` } : { events };
}

/**
 * Counts events per source IP, actor, type or severity over a window: the monitoring thresholds'
 * query ("IPs with at least 5 failed logins in the last 15 minutes"). Largest groups first.
 *
 * @example
 * const suspects = await countAuditEvents(db, tables, {
 *   from: now - 15 * 60_000, types: ['authn_login_fail'], groupBy: 'source_ip', minCount: 5,
 * })
 * // [{ key: '203.0.113.7', count: 12 }, …]
 *
 * @throws ERR_INVALID_INPUT for filters that are not valid; database errors as thrown by the driver
 */
export async function countAuditEvents(db: Kysely<SecurityDatabase>, tables: TableNames, query: AuditCountQuery): Promise<AuditCount[]> {
  const q = parseOptions(countSchema, query, 'countAuditEvents', 'ERR_INVALID_INPUT');
  const severities = severityFilter(q);
  if (severities !== undefined && severities.length === 0) return [];
  const column = q.groupBy;
  let select = filtered(
    db.selectFrom(tables.auditLogs).select((eb) => [eb.ref(column).as('key'), eb.fn.countAll<number | string | bigint>().as('count')]),
    q,
    severities,
  ).groupBy(column);
  if (q.minCount !== undefined && q.minCount > 1) select = select.having((eb) => eb(eb.fn.countAll(), '>=', q.minCount!));
  const rows = await select.orderBy('count', 'desc').orderBy('key').limit(q.limit ?? 1000).execute();
  return rows.map((row) => ({ key: row.key === null ? null : String(row.key), count: Number(row.count) }));
}

/** The severities to match, or undefined for all of them. */
function severityFilter(q: { severities?: readonly Severity[] | undefined; minSeverity?: Severity | undefined }): Severity[] | undefined {
  if (q.severities === undefined && q.minSeverity === undefined) return undefined;
  const floor = SEVERITY_RANK[q.minSeverity ?? 'info'];
  const list = [...new Set(q.severities ?? SEVERITIES)].filter((s) => SEVERITY_RANK[s] >= floor);
  return list.length === SEVERITIES.length ? undefined : list;
}

function filtered<O>(select: AuditSelect<O>, f: z.output<typeof querySchema> | z.output<typeof countSchema>, severities: Severity[] | undefined): AuditSelect<O> {
  let s = select;
  if (f.from !== undefined) s = s.where('occurred_at', '>=', f.from);
  if (f.to !== undefined) s = s.where('occurred_at', '<', f.to);
  if (f.types !== undefined) s = s.where('event_type', 'in', [...new Set(f.types)]);
  if (severities !== undefined) s = s.where('severity', 'in', severities);
  if (f.actorId !== undefined) s = s.where('actor_id', '=', f.actorId);
  if (f.actorType !== undefined) s = s.where('actor_type', '=', f.actorType);
  if (f.sourceIp !== undefined) s = s.where('source_ip', '=', f.sourceIp);
  if (f.outcome !== undefined) s = s.where('outcome', '=', f.outcome);
  return s;
}

type StoredRow = { [K in keyof SecurityAuditLogsTable]: K extends 'id' ? number | string : K extends 'occurred_at' ? number | string : SecurityAuditLogsTable[K] };

function toRecord(row: StoredRow): AuditRecord {
  return {
    id: String(row.id),
    occurredAt: toMillis(row.occurred_at),
    eventType: row.event_type,
    severity: row.severity,
    outcome: row.outcome,
    actorType: row.actor_type,
    actorId: row.actor_id,
    sourceIp: row.source_ip,
    resource: row.resource,
    action: row.action,
    requestId: row.request_id,
    metadata: parseMetadata(row.metadata),
  };
}

function parseMetadata(text: string | null): AuditRecord['metadata'] {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as AuditRecord['metadata']) : null;
  } catch {
    // Not written by this library (the writer always stores a JSON object): report no metadata.
    return null;
  }
}
