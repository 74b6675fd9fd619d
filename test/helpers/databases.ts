import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { openDatabase, type OpenedDatabase } from '../../src/storage/connect.js';
import type { DialectName } from '../../src/storage/dialect.js';
import type { SecurityDatabase } from '../../src/storage/schema.js';

/**
 * The storage contract runs on every dialect. SQLite always runs (a temp file); PostgreSQL and
 * MySQL/MariaDB run against real servers when their URL variable is set, each suite in a database
 * of its own that is dropped afterwards.
 */
export const POSTGRES_URL_VARIABLE = 'SECURITY_TEST_POSTGRES_URL';
export const MYSQL_URL_VARIABLE = 'SECURITY_TEST_MYSQL_URL';

export interface TestDatabase {
  readonly dialect: DialectName;
  readonly db: Kysely<SecurityDatabase>;
  /** Opens a second, independent connection pool to the same database (another "instance"). */
  openAnother(): Promise<OpenedDatabase>;
}

interface Target {
  readonly dialect: DialectName;
  readonly adminUrl: string | undefined;
  readonly variable?: string;
}

const TARGETS: readonly Target[] = [
  { dialect: 'sqlite', adminUrl: 'sqlite:' },
  { dialect: 'postgres', adminUrl: process.env[POSTGRES_URL_VARIABLE], variable: POSTGRES_URL_VARIABLE },
  { dialect: 'mysql', adminUrl: process.env[MYSQL_URL_VARIABLE], variable: MYSQL_URL_VARIABLE },
];

/**
 * `describe` once per dialect. The body gets a getter for the suite's database, created in
 * `beforeAll` and dropped in `afterAll`.
 */
export function describeEachDatabase(title: string, body: (get: () => TestDatabase) => void): void {
  for (const target of TARGETS) {
    const enabled = target.adminUrl !== undefined && target.adminUrl !== '';
    const label = enabled ? `${title} [${target.dialect}]` : `${title} [${target.dialect}] (skipped: set ${target.variable} to run it)`;
    describe.skipIf(!enabled)(label, () => {
      let current: { test: TestDatabase; cleanup: () => Promise<void> } | undefined;
      beforeAll(async () => {
        current = await createTestDatabase(target);
      });
      afterAll(async () => {
        await current?.cleanup();
      });
      body(() => {
        if (current === undefined) throw new Error('test database not ready');
        return current.test;
      });
    });
  }
}

async function createTestDatabase(target: Target): Promise<{ test: TestDatabase; cleanup: () => Promise<void> }> {
  const name = `afs_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const opened: OpenedDatabase[] = [];
  let url: string;
  let drop: () => Promise<void>;
  if (target.dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'afs-test-'));
    url = `sqlite:${join(dir, `${name}.db`)}`;
    drop = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const admin = await openDatabase(target.adminUrl!, { poolSize: 1 });
    await sql.raw(`CREATE DATABASE ${name}`).execute(admin.db);
    const parsed = new URL(target.adminUrl!);
    parsed.pathname = `/${name}`;
    url = parsed.toString();
    drop = async () => {
      // The suite's pools are closed by now, but a closing connection can outlive pool.end() by a
      // moment; PostgreSQL refuses to drop a database in use, so wait for the last one to go
      // rather than kill it (a killed connection surfaces as an uncaught error in its client).
      for (let attempt = 0; ; attempt++) {
        try {
          await sql.raw(`DROP DATABASE IF EXISTS ${name}`).execute(admin.db);
          break;
        } catch (error) {
          if (attempt >= 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      await admin.destroy();
    };
  }
  const open = async () => {
    const o = await openDatabase(url, { poolSize: 4 });
    opened.push(o);
    return o;
  };
  const main = await open();
  return {
    test: { dialect: target.dialect, db: main.db, openAnother: open },
    cleanup: async () => {
      for (const o of opened) await o.destroy().catch(() => undefined);
      await drop();
    },
  };
}
