import { expect, it } from 'vitest';
import { createDropTally, MAX_REPORTED_TYPES } from '../../src/audit/drop-tally.js';
import { METADATA_LIMITS, sanitizeEvent, type AuditRow } from '../../src/audit/sanitize.js';

const newRow = (metadata: string): AuditRow => ({ ...(sanitizeEvent({ type: 'sys_audit_events_dropped', severity: 'error' }, 0) as AuditRow), metadata });

it('counts per type, updates the unwritten row in place, and starts a new one once it is written', () => {
  const tally = createDropTally('warning', newRow);
  expect(tally.report()).toBeUndefined();
  for (let i = 0; i < 3; i++) tally.add('authn_api_key_fail');
  tally.add('authz_fail');
  const row = tally.report()!;
  expect(JSON.parse(row.metadata!)).toEqual({ droppedSeverity: 'warning', droppedEvents: 4, authn_api_key_fail: 3, authz_fail: 1 });
  expect(tally.hasNew()).toBe(false);
  expect(tally.unwritten()).toBe(4);

  // The write failed: the row stays unwritten and takes later drops.
  tally.settle([row], 0);
  tally.add('authz_fail');
  tally.add('authz_fail');
  expect(tally.unwritten()).toBe(6);
  expect(tally.report()).toBeUndefined();
  expect(JSON.parse(row.metadata!)).toEqual({ droppedSeverity: 'warning', droppedEvents: 6, authn_api_key_fail: 3, authz_fail: 3 });

  // Written; a drop during that write goes to a new row.
  tally.add('authn_login_fail');
  tally.settle([row], 1);
  expect(tally.unwritten()).toBe(1);
  const next = tally.report()!;
  expect(next).not.toBe(row);
  expect(JSON.parse(next.metadata!)).toEqual({ droppedSeverity: 'warning', droppedEvents: 1, authn_login_fail: 1 });
});

it('tracks a bounded number of types, sums the rest, and stays within the metadata limits', () => {
  const tally = createDropTally('info', newRow);
  const type = (i: number) => `t${String(i).padStart(2, '0')}_${'x'.repeat(60)}`;
  for (let i = 0; i < 40; i++) for (let k = 0; k <= i; k++) tally.add(type(i));
  const row = tally.report()!;
  const metadata = JSON.parse(row.metadata!) as Record<string, unknown>;
  const total = (40 * 41) / 2;
  expect(metadata.droppedEvents).toBe(total);
  expect(metadata.droppedSeverity).toBe('info');
  expect(Object.keys(metadata)).toHaveLength(MAX_REPORTED_TYPES + 3);
  expect(Object.keys(metadata).length).toBeLessThanOrEqual(METADATA_LIMITS.maxKeys);
  expect(Buffer.byteLength(row.metadata!)).toBeLessThanOrEqual(METADATA_LIMITS.maxBytes);
  const named = Object.entries(metadata).filter(([k]) => k.startsWith('t')).reduce((n, [, v]) => n + (v as number), 0);
  expect(named + (metadata.otherTypes as number)).toBe(total);

  // Folding more drops into the unwritten row keeps the same bound.
  for (let i = 40; i < 60; i++) tally.add(type(i));
  tally.report();
  const updated = JSON.parse(row.metadata!) as Record<string, unknown>;
  expect(updated.droppedEvents).toBe(total + 20);
  expect(Object.keys(updated)).toHaveLength(MAX_REPORTED_TYPES + 3);
});
