import { z } from 'zod';
import { SecurityError, type ErrorCode } from '../core/errors.js';
import type { ApiKeyPermissions } from './api-key-records.js';
import { HOST_VALUE_PATTERN } from './key-format.js';

/**
 * The zod schemas of every API-key input, run once at the boundary of each operation (never on the
 * verify path). Failures become typed errors carrying paths and zod codes only: zod messages can
 * echo the input, and the input may be a key.
 */

/** Limits of a custom permission map. */
export const PERMISSION_LIMITS = Object.freeze({ resources: 64, actions: 32 });
/** A name the permission evaluator's policies accept (resources, actions, aliases, roles). */
export const POLICY_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
/** The stricter default for custom permission names, when no `validatePermissions` hook is given. */
export const DEFAULT_PERMISSION_NAME = /^[a-z][a-z0-9_]{0,63}$/;

const text = (max: number) => z.string().min(1).max(max).refine((s) => s.isWellFormed() && !/[\u0000-\u001f\u007f]/.test(s));
export const idSchema = z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/);
export const ownerSchema = text(255);
const timeSchema = z.union([z.number().int().min(0).max(8.64e15), z.date().transform((d) => d.getTime())]);

const permissionsShape = z
  .record(z.string().regex(POLICY_NAME), z.array(z.string().regex(POLICY_NAME)).max(PERMISSION_LIMITS.actions))
  .refine((p) => Object.keys(p).length <= PERMISSION_LIMITS.resources);
const strictPermissions = z.record(
  z.string().regex(DEFAULT_PERMISSION_NAME),
  z
    .array(z.string().regex(DEFAULT_PERMISSION_NAME))
    .min(1)
    .refine((list) => new Set(list).size === list.length),
);

// Loose: an actor may be an API-key record or the evaluator's own principal object, which the
// escalation check receives as given. Only the fields the service itself reads are checked here.
const actorSchema = z.looseObject({
  role: z.string().min(1).max(64),
  id: text(255).optional(),
  type: z.enum(['user', 'api_key', 'system']).optional(),
});
const common = {
  actor: actorSchema.optional(),
  sourceIp: z.string().max(64).optional(),
  requestId: z.string().max(128).optional(),
};
const grant = {
  ...common,
  label: text(255).nullable().optional(),
  role: z.string().max(64).optional(),
  permissions: z.unknown().optional(),
  expiresAt: timeSchema.nullable().optional(),
};

export const hostValueSchema = z.string().regex(HOST_VALUE_PATTERN);
export const addOptionsSchema = z.strictObject(grant);
export const issueOptionsSchema = z.strictObject({ ...grant, recoverable: z.boolean().optional() });
export const patchSchema = z
  .strictObject({
    label: text(255).nullable().optional(),
    role: z.string().max(64).optional(),
    permissions: z.unknown().optional(),
    expiresAt: timeSchema.nullable().optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), { path: ['(patch)'] });
export const operationOptionsSchema = z.strictObject(common);
export const reasonOptionsSchema = z.strictObject({ ...common, reason: text(255).optional() });
export const rotateOptionsSchema = z.strictObject({
  ...common,
  gracePeriodMs: z.number().int().min(0).max(365 * 24 * 60 * 60 * 1000).optional(),
  recoverable: z.boolean().optional(),
});
export const querySchema = z.strictObject({
  userId: ownerSchema.optional(),
  service: ownerSchema.optional(),
  role: z.string().max(64).optional(),
  status: z.enum(['active', 'pending_rotation', 'rotated', 'revoked', 'expired']).optional(),
  limit: z.number().int().min(1).max(500).optional(),
  cursor: z.string().max(512).optional(),
});

/**
 * Parses an input with a schema, or throws the given code naming each failing path and zod code.
 *
 * @example
 * const options = parseInput(addOptionsSchema, input, 'addApiKey')
 *
 * @throws the given code (ERR_INVALID_INPUT by default)
 */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, where: string, code: ErrorCode = 'ERR_INVALID_INPUT'): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.code}`);
  throw new SecurityError(code, `invalid input for ${where}: ${problems.join('; ')}`, { details: { where, problems } });
}

/**
 * Checks the structure every stored permission map must have, whatever the policy: an object of
 * at most 64 resources, each an array of at most 32 policy-style names. Returns a copy, so the
 * caller's object is never kept or mutated. Null and undefined mean "no custom permissions".
 *
 * @example
 * const permissions = parsePermissionsShape({ reports: ['read', 'list'] }, 'addApiKey')
 *
 * @throws ERR_INVALID_PERMISSIONS
 */
export function parsePermissionsShape(input: unknown, where: string): ApiKeyPermissions | null {
  if (input === undefined || input === null) return null;
  // zod drops a `__proto__` key silently; a map that holds one is malformed, not shorter.
  if (typeof input === 'object' && Object.hasOwn(input, '__proto__')) {
    throw new SecurityError('ERR_INVALID_PERMISSIONS', `invalid input for ${where}: permissions: invalid_key`, {
      details: { where, problems: ['permissions: invalid_key'] },
    });
  }
  return parseInput(permissionsShape, input, `${where} permissions`, 'ERR_INVALID_PERMISSIONS');
}

/**
 * The default `validatePermissions`: resource and action names `/^[a-z][a-z0-9_]{0,63}$/`, each
 * action list non-empty and without duplicates. The permission evaluator replaces it with its
 * policy's check (which knows the resources and actions).
 *
 * @example
 * defaultValidatePermissions({ reports: ['read'] })
 *
 * @throws ERR_INVALID_PERMISSIONS
 */
export function defaultValidatePermissions(permissions: ApiKeyPermissions): void {
  parseInput(strictPermissions, permissions, 'permissions', 'ERR_INVALID_PERMISSIONS');
}
