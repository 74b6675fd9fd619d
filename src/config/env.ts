import { z } from 'zod';
import { SecurityError } from '../core/errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import { cronFires, isCron } from './cron.js';
import type { RootKey } from './encryption-key.js';
import { Problems } from './problems.js';
import { decideRootKey, readRootKey, type EncryptionKeyIssue, type EncryptionKeyStatus } from './root-key-policy.js';

/**
 * The library's configuration, read from the environment variables of the spec. Every problem is
 * explained by naming the variable and the rule; no message, detail or log line holds a value.
 */

export type { EncryptionKeyIssue, EncryptionKeyStatus } from './root-key-policy.js';

/** The validated configuration. Deeply frozen; the root key prints only as its fingerprint. */
export interface SecurityConfig {
  /** `NODE_ENV`. @default 'development' */
  readonly nodeEnv: string;
  /** True when `NODE_ENV` is `production` (compared case-insensitively). */
  readonly production: boolean;
  readonly kms: {
    /** `USE_AWS_KMS`. @default false */
    readonly enabled: boolean;
    /** `AWS_REGION`. @default 'us-east-1' */
    readonly region: string;
    /** `AWS_KMS_KEY_ID`: key id, key ARN, alias name or alias ARN. */
    readonly keyId?: string;
    /** `AWS_KMS_KEY_ALIAS`, starting with `alias/`. */
    readonly keyAlias?: string;
    /** `AWS_KMS_AUTO_ROTATION_DAYS`: KMS `RotationPeriodInDays`, 90 to 2560. @default 90 */
    readonly autoRotationDays: number;
  };
  /** The local root key (`ENCRYPTION_KEY`). Undefined only when KMS is enabled and the variable is unset. */
  readonly encryptionKey: RootKey | undefined;
  readonly encryptionKeyStatus: EncryptionKeyStatus;
  /** Set whenever the status is not `ok`; an audit component reports it as a critical event. */
  readonly encryptionKeyIssue?: EncryptionKeyIssue;
  readonly keyRotation: {
    /** `KEY_ROTATION_ENABLED`. @default true */
    readonly enabled: boolean;
    /** `KEY_ROTATION_SCHEDULE`, a cron expression. @default '0 0 1 * *' */
    readonly schedule: string;
    /** `KEY_ROTATION_DAYS`, 1 to 3650. @default 90 */
    readonly days: number;
    /** `KEY_ROTATION_NOTIFY_BEFORE_DAYS`, less than `days`. @default 7 */
    readonly notifyBeforeDays: number;
  };
  readonly alertThresholds: {
    /** `ALERT_THRESHOLD_FAILED_LOGINS`. @default 5 */
    readonly failedLogins: number;
    /** `ALERT_THRESHOLD_API_KEY_CREATION`. @default 3 */
    readonly apiKeyCreation: number;
    /** `ALERT_THRESHOLD_PERMISSION_DENIED`. @default 10 */
    readonly permissionDenied: number;
    /** `ALERT_THRESHOLD_ENCRYPTION_FAILURES`. @default 3 */
    readonly encryptionFailures: number;
  };
  readonly monitoring: {
    /** `SECURITY_MONITORING_ENABLED`. @default true */
    readonly enabled: boolean;
    /** `SECURITY_MONITORING_SCHEDULE`, a cron expression. @default '*\/15 * * * *' */
    readonly schedule: string;
    /** `SECURITY_MONITORING_WINDOW_MINUTES`, 1 to 10080 (one week). @default 60 */
    readonly windowMinutes: number;
  };
}

type Groups = Pick<SecurityConfig, 'kms' | 'keyRotation' | 'alertThresholds' | 'monitoring'>;

/**
 * Programmatic values that replace the environment's, checked by the same rules. `NODE_ENV` cannot
 * be overridden here (pass an `env` object instead), so code cannot switch production checks off.
 */
export type SecurityConfigOverrides = {
  readonly [G in keyof Groups]?: { readonly [F in keyof Groups[G]]?: Groups[G][F] };
} & {
  /** Replaces `ENCRYPTION_KEY`: a root key, its 32 bytes, or its base64 / hex text. */
  readonly encryptionKey?: RootKey | Uint8Array | string;
};

/** Options of {@link loadSecurityConfig}. */
export interface LoadConfigOptions {
  /**
   * In production, start with a missing, known-default or low-entropy `ENCRYPTION_KEY` (a missing
   * one is replaced by the public development key) instead of refusing. The config records
   * `encryptionKeyStatus: 'accepted_insecure'` and the issue, and an error is logged.
   * A malformed key is refused even so.
   * @default false
   */
  allowInsecureEncryptionKey?: boolean;
  /** Where warnings about the root key go. @default defaultLogger */
  logger?: Logger;
  /** Values that take precedence over the environment. */
  overrides?: SecurityConfigOverrides;
}

/** Each variable, where its value goes in the config. */
const FIELDS = {
  USE_AWS_KMS: ['kms', 'enabled'],
  AWS_REGION: ['kms', 'region'],
  AWS_KMS_KEY_ID: ['kms', 'keyId'],
  AWS_KMS_KEY_ALIAS: ['kms', 'keyAlias'],
  AWS_KMS_AUTO_ROTATION_DAYS: ['kms', 'autoRotationDays'],
  KEY_ROTATION_ENABLED: ['keyRotation', 'enabled'],
  KEY_ROTATION_SCHEDULE: ['keyRotation', 'schedule'],
  KEY_ROTATION_DAYS: ['keyRotation', 'days'],
  KEY_ROTATION_NOTIFY_BEFORE_DAYS: ['keyRotation', 'notifyBeforeDays'],
  ALERT_THRESHOLD_FAILED_LOGINS: ['alertThresholds', 'failedLogins'],
  ALERT_THRESHOLD_API_KEY_CREATION: ['alertThresholds', 'apiKeyCreation'],
  ALERT_THRESHOLD_PERMISSION_DENIED: ['alertThresholds', 'permissionDenied'],
  ALERT_THRESHOLD_ENCRYPTION_FAILURES: ['alertThresholds', 'encryptionFailures'],
  SECURITY_MONITORING_ENABLED: ['monitoring', 'enabled'],
  SECURITY_MONITORING_SCHEDULE: ['monitoring', 'schedule'],
  SECURITY_MONITORING_WINDOW_MINUTES: ['monitoring', 'windowMinutes'],
} as const satisfies Record<string, readonly [keyof Groups, string]>;

type Variable = keyof typeof FIELDS;

/** The spec's defaults. */
const DEFAULTS: { [G in keyof Groups]: Partial<Groups[G]> } = {
  kms: { enabled: false, region: 'us-east-1', autoRotationDays: 90 },
  keyRotation: { enabled: true, schedule: '0 0 1 * *', days: 90, notifyBeforeDays: 7 },
  alertThresholds: { failedLogins: 5, apiKeyCreation: 3, permissionDenied: 10, encryptionFailures: 3 },
  monitoring: { enabled: true, schedule: '*/15 * * * *', windowMinutes: 60 },
};

// Stage 1: the environment's text, turned into typed values. Only the form is checked here.
const BOOLEAN_FORM = "must be 'true', 'false', '1' or '0'";
const INTEGER_FORM = 'must be a whole number written in digits';
const envBoolean = z
  .string({ error: BOOLEAN_FORM })
  .regex(/^(true|false|1|0)$/i, { error: BOOLEAN_FORM })
  .transform((v) => v === '1' || v.toLowerCase() === 'true')
  .optional();
const envInteger = z.string({ error: INTEGER_FORM }).regex(/^\d+$/, { error: INTEGER_FORM }).transform(Number).optional();
const envText = z.string({ error: 'must be a string' }).optional();

const envSchema = z.object({
  NODE_ENV: envText,
  USE_AWS_KMS: envBoolean,
  AWS_REGION: envText,
  AWS_KMS_KEY_ID: envText,
  AWS_KMS_KEY_ALIAS: envText,
  AWS_KMS_AUTO_ROTATION_DAYS: envInteger,
  ENCRYPTION_KEY: envText,
  KEY_ROTATION_ENABLED: envBoolean,
  KEY_ROTATION_SCHEDULE: envText,
  KEY_ROTATION_DAYS: envInteger,
  KEY_ROTATION_NOTIFY_BEFORE_DAYS: envInteger,
  ALERT_THRESHOLD_FAILED_LOGINS: envInteger,
  ALERT_THRESHOLD_API_KEY_CREATION: envInteger,
  ALERT_THRESHOLD_PERMISSION_DENIED: envInteger,
  ALERT_THRESHOLD_ENCRYPTION_FAILURES: envInteger,
  SECURITY_MONITORING_ENABLED: envBoolean,
  SECURITY_MONITORING_SCHEDULE: envText,
  SECURITY_MONITORING_WINDOW_MINUTES: envInteger,
});
type EnvName = keyof typeof envSchema.shape;

// Stage 2: the rules, over typed values from the environment or the overrides alike.
const integer = (min: number, max: number, why = ''): z.ZodNumber => {
  const error = `must be an integer from ${min} to ${max}${why}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const boolean = z.boolean({ error: 'must be true or false' });
const CRON_FORM = "must be a cron expression with 5 or 6 fields, such as '0 0 1 * *'";
const cron = z
  .string({ error: CRON_FORM })
  .refine(isCron, { error: CRON_FORM, abort: true })
  .refine(cronFires, { error: 'is a cron expression that never fires' });
const threshold = integer(1, 1_000_000);

const rulesSchema = z.object({
  kms: z.object({
    enabled: boolean,
    region: z.string({ error: "must be an AWS region name such as 'us-east-1'" }).regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, {
      error: "must be an AWS region name such as 'us-east-1'",
    }),
    keyId: z
      .string({ error: 'must be a KMS key id, key ARN, alias name or alias ARN' })
      .regex(/^\S{1,2048}$/, { error: 'must be a KMS key id, key ARN, alias name or alias ARN' })
      .optional(),
    keyAlias: z
      .string({ error: "must start with 'alias/'" })
      .regex(/^alias\/[A-Za-z0-9/_-]{1,250}$/, {
        error: "must start with 'alias/' followed by letters, digits, '/', '_' or '-' (256 characters at most)",
      })
      .optional(),
    // KMS accepts RotationPeriodInDays from 90 to 2560 (EnableKeyRotation API reference).
    autoRotationDays: integer(90, 2560, ' (the range AWS KMS allows for automatic rotation)'),
  }),
  keyRotation: z.object({
    enabled: boolean,
    schedule: cron,
    days: integer(1, 3650),
    notifyBeforeDays: integer(0, 3649),
  }),
  alertThresholds: z.object({
    failedLogins: threshold,
    apiKeyCreation: threshold,
    permissionDenied: threshold,
    encryptionFailures: threshold,
  }),
  monitoring: z.object({ enabled: boolean, schedule: cron, windowMinutes: integer(1, 10_080) }),
});

const optional = z.unknown().optional();
const overridesSchema = z
  .strictObject({
    kms: z.strictObject({ enabled: optional, region: optional, keyId: optional, keyAlias: optional, autoRotationDays: optional }),
    keyRotation: z.strictObject({ enabled: optional, schedule: optional, days: optional, notifyBeforeDays: optional }),
    alertThresholds: z.strictObject({
      failedLogins: optional,
      apiKeyCreation: optional,
      permissionDenied: optional,
      encryptionFailures: optional,
    }),
    monitoring: z.strictObject({ enabled: optional, schedule: optional, windowMinutes: optional }),
    encryptionKey: optional,
  })
  .partial()
  .optional();

// Strict: a misspelt option (say `allowInsecureEncryptionKeys`) is an error, not silently ignored.
const optionsSchema = z.strictObject({
  allowInsecureEncryptionKey: z.boolean().optional(),
  logger: z
    .custom<Logger>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        (['debug', 'info', 'warn', 'error'] as const).every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    )
    .optional(),
  overrides: z.unknown().optional(),
});

/**
 * Reads the configuration from environment variables (every variable of the spec), applies the
 * spec's defaults and the programmatic overrides, and validates everything at once. Empty or
 * whitespace-only values count as unset; values are trimmed. The result is deeply frozen and
 * `env` is never modified.
 *
 * `ENCRYPTION_KEY` (32 bytes as base64, base64url or hex) is required in local mode. Outside
 * production an unset key falls back to the public development key, and a weak key is accepted,
 * each with a warning. In production an unset, known-default or low-entropy key refuses to start
 * unless `allowInsecureEncryptionKey` is set. A malformed key is always refused.
 *
 * @param env the variables to read.
 * @default env process.env
 * @example
 * const config = loadSecurityConfig()
 * const config = loadSecurityConfig(process.env, { overrides: { alertThresholds: { failedLogins: 3 } } })
 * if (config.encryptionKeyStatus !== 'ok') audit.critical('insecure_root_key', { issue: config.encryptionKeyIssue })
 * @throws ERR_INVALID_CONFIG listing every invalid variable (details: `problems`, `variables`).
 * @throws ERR_INSECURE_KEY in production, for a missing, known-default or low-entropy
 *   `ENCRYPTION_KEY` (details: `problems`, `variables`, `reason`).
 * @throws ERR_INVALID_OPTIONS when `env` or `options` themselves have the wrong shape.
 */
export function loadSecurityConfig(
  env: Record<string, string | undefined> = process.env,
  options: LoadConfigOptions = {},
): SecurityConfig {
  if (typeof env !== 'object' || env === null) {
    throw new SecurityError('ERR_INVALID_OPTIONS', 'invalid options for loadSecurityConfig: env must be an object', {
      details: { where: 'loadSecurityConfig', problems: ['env: invalid_type'] },
    });
  }
  const opts = parseOptions(optionsSchema, options, 'loadSecurityConfig');
  const logger = opts.logger ?? defaultLogger;
  const problems = new Problems();

  // Stage 1: read the environment.
  const raw: Record<string, unknown> = {};
  for (const name of Object.keys(envSchema.shape)) {
    const value = env[name];
    raw[name] = typeof value === 'string' ? value.trim() || undefined : value;
  }
  const envResult = envSchema.safeParse(raw);
  const envValues: Partial<Record<EnvName, unknown>> = envResult.success ? envResult.data : {};
  const unreadable = new Set<string>();
  for (const issue of envResult.error?.issues ?? []) {
    const variable = String(issue.path[0]);
    unreadable.add(variable);
    problems.add(`${variable} ${issue.message}`, variable);
  }
  if (!envResult.success) {
    // Keep the values that did parse, so every other variable is still checked.
    for (const name of Object.keys(envSchema.shape) as EnvName[]) {
      if (unreadable.has(name)) continue;
      const one = envSchema.shape[name].safeParse(raw[name]);
      if (one.success) envValues[name] = one.data;
    }
  }

  // The overrides' shape: only known groups and settings.
  const overridesResult = overridesSchema.safeParse(opts.overrides);
  for (const issue of overridesResult.error?.issues ?? []) {
    const at = ['overrides', ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.add(`${at}.${key} is not a known setting`, `${at}.${key}`);
    } else {
      problems.add(`${at} must be an object`, at);
    }
  }

  // Stage 2: each setting from the overrides, else the environment, else the default; then the rules.
  // Unknown override keys are reported above; the known ones are still checked.
  const overrides = isPlainObject(opts.overrides) ? (opts.overrides as Record<string, unknown>) : {};
  const fromOverride = new Set<Variable>();
  const input: Record<string, Record<string, unknown>> = { kms: {}, keyRotation: {}, alertThresholds: {}, monitoring: {} };
  for (const [variable, [group, field]] of Object.entries(FIELDS) as [Variable, readonly [keyof Groups, string]][]) {
    const overridesGroup = overrides[group];
    const overridden = isPlainObject(overridesGroup) ? (overridesGroup as Record<string, unknown>)[field] : undefined;
    if (overridden !== undefined) fromOverride.add(variable);
    input[group]![field] =
      overridden ??
      (unreadable.has(variable) ? undefined : envValues[variable]) ??
      (DEFAULTS[group] as Record<string, unknown>)[field];
  }
  const label = (variable: Variable): string => {
    const [group, field] = FIELDS[variable];
    return fromOverride.has(variable) ? `overrides.${group}.${field} (${variable})` : variable;
  };
  const rules = rulesSchema.safeParse(input);
  const invalid = new Set<Variable>(unreadable as Set<Variable>);
  for (const issue of rules.error?.issues ?? []) {
    const variable = variableAt(issue.path);
    invalid.add(variable);
    problems.add(`${label(variable)} ${issue.message}`, variable);
  }
  const groups = (rules.success ? rules.data : input) as unknown as Groups;

  // Rules across variables, checked only when each variable involved is valid on its own.
  const kmsVariables: Variable[] = ['USE_AWS_KMS', 'AWS_KMS_KEY_ID', 'AWS_KMS_KEY_ALIAS'];
  if (!kmsVariables.some((v) => invalid.has(v)) && groups.kms.enabled && !groups.kms.keyId && !groups.kms.keyAlias) {
    problems.add(
      `${label('USE_AWS_KMS')} is true but neither ${label('AWS_KMS_KEY_ID')} nor ${label('AWS_KMS_KEY_ALIAS')} is set`,
      ...kmsVariables,
    );
  }
  const notify: Variable[] = ['KEY_ROTATION_NOTIFY_BEFORE_DAYS', 'KEY_ROTATION_DAYS'];
  if (!notify.some((v) => invalid.has(v)) && groups.keyRotation.notifyBeforeDays >= groups.keyRotation.days) {
    problems.add(`${label('KEY_ROTATION_NOTIFY_BEFORE_DAYS')} must be less than ${label('KEY_ROTATION_DAYS')}`, ...notify);
  }

  // The root key.
  const keyLabel = overrides.encryptionKey === undefined ? 'ENCRYPTION_KEY' : 'overrides.encryptionKey (ENCRYPTION_KEY)';
  const keyInput = overrides.encryptionKey ?? envValues.ENCRYPTION_KEY;
  const root = unreadable.has('ENCRYPTION_KEY') ? null : readRootKey(keyInput, keyLabel, problems);
  const nodeEnv = typeof envValues.NODE_ENV === 'string' ? envValues.NODE_ENV : 'development';
  // Compared case-insensitively so that 'Production' does not quietly skip the production checks.
  const production = nodeEnv.toLowerCase() === 'production';
  // A malformed key (null) is reported above and never judged or replaced.
  const decision =
    root === null
      ? undefined
      : decideRootKey(root, {
          kmsEnabled: groups.kms.enabled === true,
          production,
          allowInsecure: opts.allowInsecureEncryptionKey === true,
        });

  if (problems.list.length > 0 || decision === undefined) {
    // One error with everything to fix, an insecure key included.
    if (decision?.refusal !== undefined) problems.add(decision.refusal.problem, 'ENCRYPTION_KEY');
    throw problems.error();
  }
  if (decision.refusal !== undefined) {
    const { problem, reason } = decision.refusal;
    throw new SecurityError('ERR_INSECURE_KEY', `insecure security configuration: ${problem}`, {
      details: { problems: [problem], variables: ['ENCRYPTION_KEY'], reason },
    });
  }
  if (decision.log !== undefined) {
    const fields = { variable: 'ENCRYPTION_KEY', status: decision.status, issue: decision.issue, nodeEnv };
    logger[decision.log.level](fields, decision.log.message);
  }

  return deepFreeze({
    nodeEnv,
    production,
    kms: withoutUndefined(groups.kms),
    encryptionKey: decision.key,
    encryptionKeyStatus: decision.status,
    ...(decision.issue === undefined ? {} : { encryptionKeyIssue: decision.issue }),
    keyRotation: { ...groups.keyRotation },
    alertThresholds: { ...groups.alertThresholds },
    monitoring: { ...groups.monitoring },
  });
}

function variableAt(path: readonly PropertyKey[]): Variable {
  const [group, field] = path.map(String);
  const found = (Object.keys(FIELDS) as Variable[]).find((v) => FIELDS[v][0] === group && FIELDS[v][1] === field);
  // Every rule sits on a field of FIELDS; anything else is a bug in this file.
  if (found === undefined) throw new Error(`security config rule on an unmapped path: ${path.map(String).join('.')}`);
  return found;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    // Plain objects only: a RootKey freezes itself, and typed arrays cannot be frozen.
    if (typeof child === 'object' && child !== null && Object.getPrototypeOf(child) === Object.prototype) deepFreeze(child);
  }
  return Object.freeze(value);
}
