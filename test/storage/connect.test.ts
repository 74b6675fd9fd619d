import { afterEach, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase, type OpenedDatabase } from '../../src/storage/connect.js';

let dir: string | undefined;
let opened: OpenedDatabase | undefined;
afterEach(async () => {
  await opened?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
  opened = undefined;
  dir = undefined;
});

it('opens a SQLite file in WAL mode with every commit synced', async () => {
  dir = mkdtempSync(join(tmpdir(), 'afs-connect-'));
  opened = await openDatabase(`sqlite:${join(dir, 'x.db')}`);
  expect(opened.dialect).toBe('sqlite');
  const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(opened.db);
  const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(opened.db);
  expect(mode.rows[0]?.journal_mode).toBe('wal');
  expect(sync.rows[0]?.synchronous).toBe(2);
});

it('refuses an unknown scheme or an empty URL with ERR_INVALID_OPTIONS, without echoing credentials', async () => {
  await expect(openDatabase('oracle://scott:tiger-secret@db/x')).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  const error = await openDatabase('oracle://scott:tiger-secret@db/x').catch((e: unknown) => e);
  expect(JSON.stringify(error) + String(error)).not.toContain('tiger-secret');
  await expect(openDatabase('')).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
});
