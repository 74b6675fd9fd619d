import { SecurityError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { customDecision, maskOf, type CompiledPolicy, type CompiledRole } from './compiled-policy.js';
import type { PermissionDecision } from './decision.js';

/**
 * Brand of a compiled principal: the policy it was compiled against. A symbol rather than
 * `instanceof`: on the request path a property load is several times cheaper.
 *
 * @example
 * principal[COMPILED_FOR] === compiled // compiled for this policy
 */
export const COMPILED_FOR: unique symbol = Symbol('compiledFor');

/**
 * Who is asking: an API-key record (or anything with a role).
 *
 * @example
 * { id: 'key-1', role: 'user', permissions: { reports: ['create', 'read', 'list'] } }
 * `permissions`, when present, are the
 * key's custom permissions: for each resource they name, they replace the role's actions on that
 * resource (an empty list denies it); resources they do not name keep the role's actions.
 */
export interface Principal {
  readonly role: string;
  readonly permissions?: Readonly<Record<string, readonly string[]>> | null;
  readonly id?: string;
}

/**
 * A principal compiled against one evaluator's policy: its decision table is fixed, so `can` on it
 * is a lookup that allocates nothing. Immutable; cache it with the API key and drop it when the
 * key's role or permissions change. Obtain it from `evaluator.compilePrincipal`.
 *
 * @example
 * const compiled = evaluator.compilePrincipal(apiKeyRecord)
 * evaluator.can(compiled, 'reports', 'read')
 */
export class CompiledPrincipal {
  /** The role as given (possibly unknown to the policy). */
  readonly role: string;
  readonly id: string | undefined;
  /** The principal this was compiled from; passed to `onDecision`. */
  readonly source: Principal;
  /** Unknown names the principal carried (role, override resources or actions); empty when none. */
  readonly issues: readonly string[];
  /** @internal The policy this was compiled against. */
  readonly [COMPILED_FOR]: CompiledPolicy;
  /** @internal Decisions by `resource * stride + action`; null for an unknown role. */
  readonly table: readonly PermissionDecision[] | null;
  /** @internal Effective action bits per resource; null for an unknown role. */
  readonly masks: Int32Array | null;

  /** @internal Use `evaluator.compilePrincipal`. */
  constructor(
    compiled: CompiledPolicy,
    source: Principal,
    table: readonly PermissionDecision[] | null,
    masks: Int32Array | null,
    issues: readonly string[],
  ) {
    this.role = source.role;
    this.id = source.id;
    this.source = source;
    this.issues = issues;
    this[COMPILED_FOR] = compiled;
    this.table = table;
    this.masks = masks;
    Object.freeze(this);
  }
}

/**
 * Compiles a principal: its role's table, with the rows of every resource its permissions name
 * replaced by per-key decisions. Names the policy does not know grant nothing: they are dropped,
 * listed in `issues` and logged as a warning (a stored key may predate a policy change). An
 * unknown role grants nothing at all, whatever its permissions say.
 *
 * @example
 * compilePrincipal(compiled, { role: 'user', permissions: { reports: ['read'] } }, logger)
 *
 * @throws ERR_INVALID_INPUT when the principal is not an object with a string role;
 *   ERR_INVALID_PERMISSIONS when `permissions` is not an object of string arrays.
 */
export function compilePrincipal(compiled: CompiledPolicy, principal: Principal, logger: Logger): CompiledPrincipal {
  if (typeof principal !== 'object' || principal === null || typeof principal.role !== 'string') {
    throw new SecurityError('ERR_INVALID_INPUT', 'a principal needs a string role');
  }
  const permissions = principal.permissions;
  assertPermissionsShape(permissions);
  const issues: string[] = [];
  const role = compiled.roles.get(principal.role);
  let table: readonly PermissionDecision[] | null = null;
  let masks: Int32Array | null = null;
  if (role === undefined) {
    issues.push(`unknown role "${principal.role}"`);
  } else if (permissions == null) {
    table = role.table;
    masks = role.masks;
  } else {
    const rows = role.table.slice();
    masks = role.masks.slice();
    for (const resource of Object.keys(permissions)) {
      const r = compiled.resourceIndex.get(resource);
      if (r === undefined) {
        issues.push(`unknown resource "${resource}"`);
        continue;
      }
      const unknown: string[] = [];
      const mask = maskOf(compiled, permissions[resource] ?? [], unknown);
      unknown.forEach((a) => issues.push(`unknown action "${a}" on "${resource}"`));
      masks[r] = mask;
      for (let a = 0; a < compiled.stride; a++) {
        const needed = compiled.required[a]!;
        rows[r * compiled.stride + a] = customDecision(compiled, role, r, a, (mask & needed) === needed);
      }
    }
    table = Object.freeze(rows);
  }
  if (issues.length > 0) {
    logger.warn({ role: principal.role, id: principal.id, issues }, 'principal names unknown role, resources or actions');
  }
  return new CompiledPrincipal(compiled, principal, table, masks, Object.freeze(issues));
}

/**
 * The decision for a raw principal that carries permissions, without compiling it: the role's
 * decision unless the permissions name the resource, else the shared per-key decision. Unknown
 * action names in the list grant nothing (compiling the principal reports them).
 *
 * @example
 * rawOverrideDecision(compiled, role, { reports: ['read'] }, 0, 1) // custom_grant
 *
 * @throws ERR_INVALID_PERMISSIONS when `permissions` or the resource's list is malformed
 */
export function rawOverrideDecision(
  compiled: CompiledPolicy,
  role: CompiledRole,
  permissions: Readonly<Record<string, readonly string[]>>,
  r: number,
  a: number,
): PermissionDecision {
  if (typeof permissions !== 'object' || Array.isArray(permissions)) assertPermissionsShape(permissions);
  const resource = compiled.policy.resources[r]!;
  if (!Object.hasOwn(permissions, resource)) return role.table[r * compiled.stride + a]!;
  const list = permissions[resource];
  if (!Array.isArray(list)) assertPermissionsShape(permissions);
  let mask = 0;
  for (let i = 0; i < list!.length; i++) {
    const index = compiled.actionIndex.get(list![i]!);
    if (index !== undefined) mask |= compiled.required[index]!;
  }
  const needed = compiled.required[a]!;
  return customDecision(compiled, role, r, a, (mask & needed) === needed);
}

/**
 * Checks that `permissions` is absent, null, or an object whose values are arrays of strings.
 *
 * @example
 * assertPermissionsShape({ reports: ['read'] })
 *
 * @throws ERR_INVALID_PERMISSIONS otherwise
 */
export function assertPermissionsShape(
  permissions: unknown,
): asserts permissions is Readonly<Record<string, readonly string[]>> | null | undefined {
  if (permissions == null) return;
  const ok =
    typeof permissions === 'object' &&
    !Array.isArray(permissions) &&
    Object.values(permissions).every((list) => Array.isArray(list) && list.every((a) => typeof a === 'string'));
  if (!ok) {
    throw new SecurityError('ERR_INVALID_PERMISSIONS', 'permissions must map resource names to arrays of action names');
  }
}
