import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, it, expect } from 'vitest';
import { loadSecurityConfig, type LoadConfigOptions, type SecurityConfig } from '../../src/config/env.js';
import { DEVELOPMENT_ENCRYPTION_KEY_BYTES, RootKey, developmentRootKey } from '../../src/config/encryption-key.js';
import { isSecurityError, type SecurityError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';

type Entry = { level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string };

function capturingLogger(): Logger & { entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: Entry['level']) => (obj: Record<string, unknown>, msg: string) => void entries.push({ level, obj, msg });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const strongKey = randomBytes(32);
const STRONG = strongKey.toString('base64');

/** Loads with a strong key and a capturing logger unless the test says otherwise. */
function load(env: Record<string, string | undefined>, options: LoadConfigOptions = {}): SecurityConfig {
  return loadSecurityConfig({ ENCRYPTION_KEY: STRONG, ...env }, { logger: capturingLogger(), ...options });
}

function failure(fn: () => unknown): SecurityError {
  try {
    fn();
  } catch (error) {
    if (isSecurityError(error)) return error;
    throw error;
  }
  throw new Error('expected a SecurityError');
}

/** The error names the variable and says nothing of the value. */
function expectRefusal(error: SecurityError, code: string, variable: string, value?: string): void {
  expect(error.code).toBe(code);
  expect(error.message).toContain(variable);
  expect(error.details?.variables).toContain(variable);
  if (value !== undefined) {
    expect(error.message).not.toContain(value);
    expect(JSON.stringify(error.details)).not.toContain(value);
  }
}

describe('loadSecurityConfig defaults', () => {
  it("applies the spec's default for every variable", () => {
    const config = load({});
    const { encryptionKey, ...rest } = config;
    expect(rest).toEqual({
      nodeEnv: 'development',
      production: false,
      kms: { enabled: false, region: 'us-east-1', autoRotationDays: 90 },
      encryptionKeyStatus: 'ok',
      keyRotation: { enabled: true, schedule: '0 0 1 * *', days: 90, notifyBeforeDays: 7 },
      alertThresholds: { failedLogins: 5, apiKeyCreation: 3, permissionDenied: 10, encryptionFailures: 3 },
      monitoring: { enabled: true, schedule: '*/15 * * * *', windowMinutes: 60 },
    });
    expect(encryptionKey?.bytes().equals(strongKey)).toBe(true);
    expect('encryptionKeyIssue' in config).toBe(false);
  });

  it('treats empty and whitespace-only values as unset', () => {
    const names = [
      'NODE_ENV', 'USE_AWS_KMS', 'AWS_REGION', 'AWS_KMS_KEY_ID', 'AWS_KMS_KEY_ALIAS', 'AWS_KMS_AUTO_ROTATION_DAYS',
      'KEY_ROTATION_ENABLED', 'KEY_ROTATION_SCHEDULE', 'KEY_ROTATION_DAYS', 'KEY_ROTATION_NOTIFY_BEFORE_DAYS',
      'ALERT_THRESHOLD_FAILED_LOGINS', 'ALERT_THRESHOLD_API_KEY_CREATION', 'ALERT_THRESHOLD_PERMISSION_DENIED',
      'ALERT_THRESHOLD_ENCRYPTION_FAILURES', 'SECURITY_MONITORING_ENABLED', 'SECURITY_MONITORING_SCHEDULE',
      'SECURITY_MONITORING_WINDOW_MINUTES',
    ];
    const empty = Object.fromEntries(names.map((n, i) => [n, i % 2 === 0 ? '' : '  ']));
    const { encryptionKey: _a, ...fromEmpty } = load(empty);
    const { encryptionKey: _b, ...fromNothing } = load({});
    expect(fromEmpty).toEqual(fromNothing);
  });

  it('reads process.env when no env is given', () => {
    const saved = { ...process.env };
    process.env.ALERT_THRESHOLD_FAILED_LOGINS = '8';
    process.env.ENCRYPTION_KEY = STRONG;
    process.env.USE_AWS_KMS = 'false';
    try {
      const config = loadSecurityConfig(undefined, { logger: capturingLogger() });
      expect(config.alertThresholds.failedLogins).toBe(8);
    } finally {
      for (const name of ['ALERT_THRESHOLD_FAILED_LOGINS', 'ENCRYPTION_KEY', 'USE_AWS_KMS']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });
});

describe('loadSecurityConfig parses each variable', () => {
  it('reads every variable into its group', () => {
    const config = load({
      NODE_ENV: 'staging',
      USE_AWS_KMS: 'true',
      AWS_REGION: 'eu-west-3',
      AWS_KMS_KEY_ID: '1234abcd-12ab-34cd-56ef-1234567890ab',
      AWS_KMS_KEY_ALIAS: 'alias/agentflow-encryption-key',
      AWS_KMS_AUTO_ROTATION_DAYS: '365',
      KEY_ROTATION_ENABLED: 'false',
      KEY_ROTATION_SCHEDULE: '0 3 * * 1',
      KEY_ROTATION_DAYS: '30',
      KEY_ROTATION_NOTIFY_BEFORE_DAYS: '0',
      ALERT_THRESHOLD_FAILED_LOGINS: '11',
      ALERT_THRESHOLD_API_KEY_CREATION: '12',
      ALERT_THRESHOLD_PERMISSION_DENIED: '13',
      ALERT_THRESHOLD_ENCRYPTION_FAILURES: '14',
      SECURITY_MONITORING_ENABLED: '0',
      SECURITY_MONITORING_SCHEDULE: '*/5 * * * *',
      SECURITY_MONITORING_WINDOW_MINUTES: '120',
    });
    expect(config).toMatchObject({
      nodeEnv: 'staging',
      production: false,
      kms: {
        enabled: true,
        region: 'eu-west-3',
        keyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
        keyAlias: 'alias/agentflow-encryption-key',
        autoRotationDays: 365,
      },
      encryptionKeyStatus: 'ok',
      keyRotation: { enabled: false, schedule: '0 3 * * 1', days: 30, notifyBeforeDays: 0 },
      alertThresholds: { failedLogins: 11, apiKeyCreation: 12, permissionDenied: 13, encryptionFailures: 14 },
      monitoring: { enabled: false, schedule: '*/5 * * * *', windowMinutes: 120 },
    });
  });

  it.each([
    ['true', true],
    ['false', false],
    ['1', true],
    ['0', false],
    ['TRUE', true],
    [' False ', false],
  ])("reads boolean %j as %s", (text, value) => {
    const config = load({ KEY_ROTATION_ENABLED: text, SECURITY_MONITORING_ENABLED: text });
    expect(config.keyRotation.enabled).toBe(value);
    expect(config.monitoring.enabled).toBe(value);
  });

  it('trims surrounding whitespace', () => {
    const config = load({ AWS_REGION: ' ap-southeast-2\n', KEY_ROTATION_DAYS: ' 45 ', KEY_ROTATION_SCHEDULE: ' 0 0 1 * * ' });
    expect(config.kms.region).toBe('ap-southeast-2');
    expect(config.keyRotation.days).toBe(45);
    expect(config.keyRotation.schedule).toBe('0 0 1 * *');
  });

  it('accepts a six-field cron expression (with seconds)', () => {
    expect(load({ SECURITY_MONITORING_SCHEDULE: '30 */15 * * * *' }).monitoring.schedule).toBe('30 */15 * * * *');
  });

  it.each(['production', 'Production'])('NODE_ENV=%s is production', (nodeEnv) => {
    expect(load({ NODE_ENV: nodeEnv }).production).toBe(true);
  });
});

describe('loadSecurityConfig refuses invalid values, naming the variable and never the value', () => {
  it.each([
    ['USE_AWS_KMS', 'yes-QX7'],
    ['KEY_ROTATION_ENABLED', 'enabled-QX7'],
    ['SECURITY_MONITORING_ENABLED', 'on-QX7'],
    ['AWS_REGION', 'Mars-Central-QX7'],
    ['AWS_KMS_KEY_ID', 'has space QX7'],
    ['AWS_KMS_KEY_ALIAS', 'agentflow-QX7'],
    ['AWS_KMS_AUTO_ROTATION_DAYS', 'ninety-QX7'],
    ['AWS_KMS_AUTO_ROTATION_DAYS', '987654321'],
    ['KEY_ROTATION_SCHEDULE', 'every-day-QX7'],
    ['KEY_ROTATION_SCHEDULE', '61 * * * *'],
    ['KEY_ROTATION_DAYS', 'abcQX7'],
    ['KEY_ROTATION_DAYS', '987654321'],
    ['KEY_ROTATION_DAYS', '4.5e1'],
    ['KEY_ROTATION_NOTIFY_BEFORE_DAYS', 'soonQX7'],
    ['KEY_ROTATION_NOTIFY_BEFORE_DAYS', '-3'],
    ['ALERT_THRESHOLD_FAILED_LOGINS', '987654321'],
    ['ALERT_THRESHOLD_FAILED_LOGINS', 'fiveQX7'],
    ['ALERT_THRESHOLD_API_KEY_CREATION', '3.5'],
    ['ALERT_THRESHOLD_PERMISSION_DENIED', 'tenQX7'],
    ['ALERT_THRESHOLD_ENCRYPTION_FAILURES', '0x3'],
    ['SECURITY_MONITORING_SCHEDULE', 'hourly-QX7'],
    ['SECURITY_MONITORING_SCHEDULE', '0 0 30 2 *'],
    ['SECURITY_MONITORING_WINDOW_MINUTES', 'sixtyQX7'],
    ['SECURITY_MONITORING_WINDOW_MINUTES', '987654321'],
    ['ENCRYPTION_KEY', 'not-a-key-QX7'],
    ['ENCRYPTION_KEY', randomBytes(31).toString('base64')],
  ])('%s=%j is ERR_INVALID_CONFIG', (variable, value) => {
    expectRefusal(failure(() => load({ [variable]: value })), 'ERR_INVALID_CONFIG', variable, value);
  });

  it.each([
    ['ALERT_THRESHOLD_FAILED_LOGINS'],
    ['ALERT_THRESHOLD_API_KEY_CREATION'],
    ['ALERT_THRESHOLD_PERMISSION_DENIED'],
    ['ALERT_THRESHOLD_ENCRYPTION_FAILURES'],
    ['SECURITY_MONITORING_WINDOW_MINUTES'],
    ['KEY_ROTATION_DAYS'],
  ])('%s=0 is refused: it must be positive', (variable) => {
    expectRefusal(failure(() => load({ [variable]: '0' })), 'ERR_INVALID_CONFIG', variable);
  });

  it.each(['89', '2561', '0'])('AWS_KMS_AUTO_ROTATION_DAYS=%s is refused (KMS allows 90 to 2560)', (days) => {
    expectRefusal(failure(() => load({ AWS_KMS_AUTO_ROTATION_DAYS: days })), 'ERR_INVALID_CONFIG', 'AWS_KMS_AUTO_ROTATION_DAYS');
  });

  it.each([['90', 90], ['2560', 2560]])('AWS_KMS_AUTO_ROTATION_DAYS=%s is accepted', (text, days) => {
    expect(load({ AWS_KMS_AUTO_ROTATION_DAYS: text }).kms.autoRotationDays).toBe(days);
  });

  it('USE_AWS_KMS=true needs AWS_KMS_KEY_ID or AWS_KMS_KEY_ALIAS', () => {
    const error = failure(() => load({ USE_AWS_KMS: 'true' }));
    expectRefusal(error, 'ERR_INVALID_CONFIG', 'USE_AWS_KMS');
    expect(error.details?.variables).toEqual(expect.arrayContaining(['AWS_KMS_KEY_ID', 'AWS_KMS_KEY_ALIAS']));
    expect(load({ USE_AWS_KMS: 'true', AWS_KMS_KEY_ALIAS: 'alias/app' }).kms).toEqual({
      enabled: true,
      region: 'us-east-1',
      keyAlias: 'alias/app',
      autoRotationDays: 90,
    });
    expect(load({ USE_AWS_KMS: '1', AWS_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/abc' }).kms.keyId).toBe(
      'arn:aws:kms:us-east-1:111122223333:key/abc',
    );
  });

  it('KEY_ROTATION_NOTIFY_BEFORE_DAYS must be less than KEY_ROTATION_DAYS', () => {
    for (const notify of ['30', '31']) {
      const error = failure(() => load({ KEY_ROTATION_DAYS: '30', KEY_ROTATION_NOTIFY_BEFORE_DAYS: notify }));
      expectRefusal(error, 'ERR_INVALID_CONFIG', 'KEY_ROTATION_NOTIFY_BEFORE_DAYS');
      expect(error.details?.variables).toContain('KEY_ROTATION_DAYS');
    }
    expect(load({ KEY_ROTATION_DAYS: '30', KEY_ROTATION_NOTIFY_BEFORE_DAYS: '29' }).keyRotation.notifyBeforeDays).toBe(29);
    // The default notice (7 days) applies to a short rotation period too, so it must be lowered with it.
    expectRefusal(failure(() => load({ KEY_ROTATION_DAYS: '5' })), 'ERR_INVALID_CONFIG', 'KEY_ROTATION_NOTIFY_BEFORE_DAYS');
  });

  it('collects every problem into one error', () => {
    const error = failure(() =>
      load({ USE_AWS_KMS: 'maybe-QX7', KEY_ROTATION_DAYS: 'lots-QX7', SECURITY_MONITORING_SCHEDULE: 'often-QX7', ENCRYPTION_KEY: 'short-QX7' }),
    );
    expect(error.code).toBe('ERR_INVALID_CONFIG');
    expect(error.details?.variables).toEqual(
      expect.arrayContaining(['USE_AWS_KMS', 'KEY_ROTATION_DAYS', 'SECURITY_MONITORING_SCHEDULE', 'ENCRYPTION_KEY']),
    );
    expect((error.details?.problems as string[]).length).toBeGreaterThanOrEqual(4);
    expect(error.message).not.toContain('QX7');
    expect(JSON.stringify(error.details)).not.toContain('QX7');
  });
});

describe('loadSecurityConfig and ENCRYPTION_KEY in production', () => {
  const production = { NODE_ENV: 'production' };
  it.each([
    ['missing', undefined],
    ['known_default', '00'.repeat(32)],
    ['known_default', DEVELOPMENT_ENCRYPTION_KEY_BYTES.toString('base64')],
    ['known_default', Buffer.from('changeme'.repeat(4)).toString('base64')],
    ['low_entropy', '0123456789abcdef'.repeat(4)],
    ['low_entropy', Buffer.from('Tr0ub4dor&3-correct-horse-staple').toString('base64')],
  ])('refuses to start with ERR_INSECURE_KEY when the key is %s', (reason, value) => {
    const error = failure(() => load({ ...production, ENCRYPTION_KEY: value }));
    expectRefusal(error, 'ERR_INSECURE_KEY', 'ENCRYPTION_KEY', value);
    expect(error.details).toMatchObject({ reason, variables: ['ENCRYPTION_KEY'] });
  });

  it('a malformed key is ERR_INVALID_CONFIG, even with allowInsecureEncryptionKey', () => {
    for (const options of [{}, { allowInsecureEncryptionKey: true }]) {
      const error = failure(() => load({ ...production, ENCRYPTION_KEY: 'hunter2-QX7' }, options));
      expectRefusal(error, 'ERR_INVALID_CONFIG', 'ENCRYPTION_KEY', 'hunter2-QX7');
    }
  });

  it('starts with a strong key and logs nothing', () => {
    const logger = capturingLogger();
    const config = load(production, { logger });
    expect(config).toMatchObject({ production: true, encryptionKeyStatus: 'ok' });
    expect(config.encryptionKey?.fingerprint).toBe(RootKey.fromBytes(strongKey).fingerprint);
    expect(logger.entries).toEqual([]);
  });

  it('with KMS enabled the key is optional', () => {
    const config = loadSecurityConfig(
      { ...production, USE_AWS_KMS: 'true', AWS_KMS_KEY_ALIAS: 'alias/app' },
      { logger: capturingLogger() },
    );
    expect(config.encryptionKey).toBeUndefined();
    expect(config.encryptionKeyStatus).toBe('ok');
  });

  it('with KMS enabled a weak key that is given is still refused', () => {
    const error = failure(() => load({ ...production, USE_AWS_KMS: 'true', AWS_KMS_KEY_ALIAS: 'alias/app', ENCRYPTION_KEY: 'ff'.repeat(32) }));
    expect(error.code).toBe('ERR_INSECURE_KEY');
  });

  it('allowInsecureEncryptionKey starts with the development key for a missing key, records it and logs an error', () => {
    const logger = capturingLogger();
    const config = loadSecurityConfig(production, { logger, allowInsecureEncryptionKey: true });
    expect(config).toMatchObject({ encryptionKeyStatus: 'accepted_insecure', encryptionKeyIssue: 'missing', production: true });
    expect(config.encryptionKey?.fingerprint).toBe(developmentRootKey().fingerprint);
    expect(logger.entries).toHaveLength(1);
    expect(logger.entries[0]).toMatchObject({ level: 'error', obj: { variable: 'ENCRYPTION_KEY', issue: 'missing' } });
  });

  it.each([
    ['known_default', 'ff'.repeat(32)],
    ['low_entropy', 'deadbeef'.repeat(8)],
  ])('allowInsecureEncryptionKey accepts a %s key, records it and logs an error without the key', (issue, value) => {
    const logger = capturingLogger();
    const config = load({ ...production, ENCRYPTION_KEY: value }, { logger, allowInsecureEncryptionKey: true });
    expect(config).toMatchObject({ encryptionKeyStatus: 'accepted_insecure', encryptionKeyIssue: issue });
    expect(config.encryptionKey?.bytes().toString('hex')).toBe(value);
    expect(logger.entries.map((e) => e.level)).toEqual(['error']);
    expect(JSON.stringify(logger.entries)).not.toContain(value);
  });

  it('when there are other problems too, one ERR_INVALID_CONFIG lists the insecure key as well', () => {
    const error = failure(() => loadSecurityConfig({ ...production, KEY_ROTATION_DAYS: 'x-QX7' }, { logger: capturingLogger() }));
    expect(error.code).toBe('ERR_INVALID_CONFIG');
    expect(error.details?.variables).toEqual(expect.arrayContaining(['KEY_ROTATION_DAYS', 'ENCRYPTION_KEY']));
  });
});

describe('loadSecurityConfig and ENCRYPTION_KEY outside production', () => {
  it('a missing key falls back to the development key with a warning', () => {
    const logger = capturingLogger();
    const config = loadSecurityConfig({}, { logger });
    expect(config).toMatchObject({ encryptionKeyStatus: 'development_default', encryptionKeyIssue: 'missing' });
    expect(config.encryptionKey?.bytes().equals(DEVELOPMENT_ENCRYPTION_KEY_BYTES)).toBe(true);
    expect(logger.entries).toHaveLength(1);
    expect(logger.entries[0]).toMatchObject({ level: 'warn', obj: { variable: 'ENCRYPTION_KEY' } });
  });

  it('without a logger, the warning goes to the default logger (a process warning)', async () => {
    const warnings: Error[] = [];
    const listener = (w: Error): void => void warnings.push(w);
    process.on('warning', listener);
    try {
      loadSecurityConfig({ NODE_ENV: 'test' });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listener);
    }
    expect(warnings.some((w) => w.name === 'SecurityWarning' && w.message.includes('ENCRYPTION_KEY'))).toBe(true);
  });

  it.each([
    ['known_default', '00'.repeat(32)],
    ['low_entropy', 'abcd'.repeat(16)],
  ])('a %s key is accepted with a warning and recorded', (issue, value) => {
    const logger = capturingLogger();
    const config = load({ ENCRYPTION_KEY: value }, { logger });
    expect(config).toMatchObject({ encryptionKeyStatus: 'accepted_insecure', encryptionKeyIssue: issue });
    expect(logger.entries.map((e) => e.level)).toEqual(['warn']);
    expect(logger.entries[0]?.obj).toMatchObject({ variable: 'ENCRYPTION_KEY', issue });
  });
});

describe('loadSecurityConfig overrides', () => {
  it('programmatic overrides take precedence over the environment', () => {
    const config = load(
      { ALERT_THRESHOLD_FAILED_LOGINS: '9', KEY_ROTATION_DAYS: '60' },
      { overrides: { alertThresholds: { failedLogins: 3 }, monitoring: { enabled: false } } },
    );
    expect(config.alertThresholds).toEqual({ failedLogins: 3, apiKeyCreation: 3, permissionDenied: 10, encryptionFailures: 3 });
    expect(config.keyRotation.days).toBe(60);
    expect(config.monitoring.enabled).toBe(false);
  });

  it('overrides are checked by the same rules, naming the setting and its variable', () => {
    const error = failure(() =>
      load({}, { overrides: { alertThresholds: { failedLogins: 0 }, kms: { autoRotationDays: 30 }, keyRotation: { schedule: 'nope-QX7' } } }),
    );
    expect(error.code).toBe('ERR_INVALID_CONFIG');
    expect(error.message).toContain('overrides.alertThresholds.failedLogins');
    expect(error.details?.variables).toEqual(
      expect.arrayContaining(['ALERT_THRESHOLD_FAILED_LOGINS', 'AWS_KMS_AUTO_ROTATION_DAYS', 'KEY_ROTATION_SCHEDULE']),
    );
    expect(error.message).not.toContain('nope-QX7');
  });

  it('an override of the wrong type is refused', () => {
    const overrides = { alertThresholds: { failedLogins: '3' } } as unknown as LoadConfigOptions['overrides'];
    expectRefusal(failure(() => load({}, { overrides })), 'ERR_INVALID_CONFIG', 'ALERT_THRESHOLD_FAILED_LOGINS');
  });

  it('an unknown override, such as nodeEnv, is refused', () => {
    const overrides = { nodeEnv: 'development', alertThreshold: {} } as unknown as LoadConfigOptions['overrides'];
    const error = failure(() => load({ NODE_ENV: 'production' }, { overrides }));
    expect(error.code).toBe('ERR_INVALID_CONFIG');
    expect(error.details?.variables).toEqual(expect.arrayContaining(['overrides.nodeEnv', 'overrides.alertThreshold']));
  });

  it('the override cross-checks with the environment (notify days against rotation days)', () => {
    const error = failure(() => load({ KEY_ROTATION_NOTIFY_BEFORE_DAYS: '10' }, { overrides: { keyRotation: { days: 10 } } }));
    expect(error.details?.variables).toEqual(expect.arrayContaining(['KEY_ROTATION_NOTIFY_BEFORE_DAYS', 'KEY_ROTATION_DAYS']));
  });

  it.each([
    ['a RootKey', RootKey.fromBytes(strongKey)],
    ['32 bytes', Buffer.from(strongKey)],
    ['hex text', strongKey.toString('hex')],
  ])('encryptionKey can be given as %s', (_, encryptionKey) => {
    const config = load({ ENCRYPTION_KEY: undefined }, { overrides: { encryptionKey } });
    expect(config.encryptionKey?.bytes().equals(strongKey)).toBe(true);
  });

  it('an encryptionKey override that is not 32 bytes is refused, naming it', () => {
    const error = failure(() => load({}, { overrides: { encryptionKey: Buffer.alloc(16, 9) } }));
    expectRefusal(error, 'ERR_INVALID_CONFIG', 'ENCRYPTION_KEY');
    expect(error.message).toContain('overrides.encryptionKey');
  });

  it('options of the wrong shape are ERR_INVALID_OPTIONS', () => {
    const options = { allowInsecureEncryptionKey: 'yes' } as unknown as LoadConfigOptions;
    expect(failure(() => load({}, options)).code).toBe('ERR_INVALID_OPTIONS');
  });

  it('a misspelt option is ERR_INVALID_OPTIONS, not silently ignored', () => {
    const options = { allowInsecureEncryptionKeys: true } as unknown as LoadConfigOptions;
    expect(failure(() => load({ NODE_ENV: 'production' }, options)).code).toBe('ERR_INVALID_OPTIONS');
  });
});

describe('loadSecurityConfig output', () => {
  it('is deeply frozen: mutation throws', () => {
    const config = load({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { production: boolean }).production = true;
    }).toThrow(TypeError);
    expect(() => {
      (config.kms as { region: string }).region = 'eu-west-1';
    }).toThrow(TypeError);
    expect(() => {
      (config.alertThresholds as { failedLogins: number }).failedLogins = 1000;
    }).toThrow(TypeError);
    expect(() => {
      (config.keyRotation as { days: number }).days = 1;
    }).toThrow(TypeError);
    expect(() => {
      (config.monitoring as { enabled: boolean }).enabled = false;
    }).toThrow(TypeError);
  });

  it('JSON.stringify and util.inspect never show the key in hex or base64', () => {
    const config = load({ ENCRYPTION_KEY: strongKey.toString('hex') });
    const outputs = [JSON.stringify(config), inspect(config, { depth: 10 }), inspect(config, { depth: 10, showHidden: true }), String(config.encryptionKey)];
    for (const out of outputs) {
      for (const encoded of [strongKey.toString('hex'), strongKey.toString('base64'), strongKey.toString('base64url')]) {
        expect(out).not.toContain(encoded);
        expect(out).not.toContain(encoded.slice(0, 16));
      }
      expect(out).toContain(`[redacted root key ${config.encryptionKey?.fingerprint}]`);
    }
  });

  it('does not mutate the env object or the overrides', () => {
    const env: Record<string, string | undefined> = { ENCRYPTION_KEY: ` ${STRONG} `, KEY_ROTATION_DAYS: ' 45 ', AWS_REGION: '', OTHER: 'x' };
    const envCopy = { ...env };
    const overrides = { alertThresholds: { failedLogins: 3 } };
    loadSecurityConfig(env, { logger: capturingLogger(), overrides });
    expect(env).toEqual(envCopy);
    expect(Object.keys(env)).toEqual(Object.keys(envCopy));
    expect(Object.isFrozen(env)).toBe(false);
    expect(overrides).toEqual({ alertThresholds: { failedLogins: 3 } });
    expect(Object.isFrozen(overrides.alertThresholds)).toBe(false);
  });

  it('omits unset optional KMS settings rather than holding undefined', () => {
    expect(Object.keys(load({}).kms)).toEqual(['enabled', 'region', 'autoRotationDays']);
  });
});
