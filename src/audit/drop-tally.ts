import type { AuditRow } from './sanitize.js';

/**
 * Event types named one by one in a `sys_audit_events_dropped` row; further types are summed under
 * `otherTypes`. With `droppedSeverity`, `droppedEvents` and `otherTypes` that is 32 keys, the
 * metadata limit, and under 3 KiB (types are at most 64 characters).
 */
export const MAX_REPORTED_TYPES = 29;

interface Counts {
  readonly byType: Map<string, number>;
  other: number;
  total: number;
}

const emptyCounts = (): Counts => ({ byType: new Map(), other: 0, total: 0 });

function addTo(counts: Counts, type: string, n: number): void {
  const current = counts.byType.get(type);
  if (current !== undefined) counts.byType.set(type, current + n);
  else if (counts.byType.size < MAX_REPORTED_TYPES) counts.byType.set(type, n);
  else counts.other += n;
  counts.total += n;
}

/**
 * The metadata of a drop report. Built here rather than by `sanitizeEvent`: its keys are event types,
 * which can match the sensitive-key pattern (`authn_api_key_fail`, `authn_token_*`) and would be
 * redacted, and its values are counts, never caller data. The fixed keys are camelCase, so no event
 * type (`^[a-z][a-z0-9_]*$`) can collide with them. Largest counts first.
 */
function reportMetadata(droppedSeverity: 'info' | 'warning', counts: Counts): string {
  const metadata: Record<string, string | number> = { droppedSeverity, droppedEvents: counts.total };
  for (const [type, n] of [...counts.byType].sort((a, b) => b[1] - a[1])) metadata[type] = n;
  if (counts.other > 0) metadata.otherTypes = counts.other;
  return JSON.stringify(metadata);
}

/**
 * Events of one severity that the writer did not keep, counted per event type, and the
 * `sys_audit_events_dropped` row that reports them. Memory is bounded: at most
 * {@link MAX_REPORTED_TYPES} types are tracked, whatever the flood.
 */
export interface DropTally {
  /** Counts one event that was not kept. O(1). */
  add(type: string): void;
  /** Dropped events not yet in the database: counted since the last report, or in its unwritten row. */
  unwritten(): number;
  /** Whether events were counted since the last {@link DropTally.report}. */
  hasNew(): boolean;
  /**
   * Folds the new counts into the report: returns a new row to queue, or undefined when there is
   * nothing new or the unwritten row was updated in place. Call only when no write holds that row.
   */
  report(): AuditRow | undefined;
  /** After a write of `rows` of which `rows[0 .. written)` landed: forgets the report row once written. */
  settle(rows: readonly AuditRow[], written: number): void;
}

/**
 * @param droppedSeverity the severity of the events counted
 * @param newRow builds a report row (severity one step above `droppedSeverity`) with this metadata JSON
 */
export function createDropTally(droppedSeverity: 'info' | 'warning', newRow: (metadata: string) => AuditRow): DropTally {
  let fresh = emptyCounts();
  // The counts held by the unwritten report row, and that row.
  let reported = emptyCounts();
  let row: AuditRow | undefined;

  return {
    add: (type) => addTo(fresh, type, 1),
    unwritten: () => fresh.total + (row === undefined ? 0 : reported.total),
    hasNew: () => fresh.total > 0,
    report() {
      if (fresh.total === 0) return undefined;
      if (row === undefined) {
        reported = fresh;
        fresh = emptyCounts();
        row = newRow(reportMetadata(droppedSeverity, reported));
        return row;
      }
      for (const [type, n] of fresh.byType) addTo(reported, type, n);
      reported.other += fresh.other;
      reported.total += fresh.other;
      fresh = emptyCounts();
      row.metadata = reportMetadata(droppedSeverity, reported);
      return undefined;
    },
    settle(rows, written) {
      if (row !== undefined && rows.indexOf(row, written) === -1) {
        row = undefined;
        reported = emptyCounts();
      }
    },
  };
}
