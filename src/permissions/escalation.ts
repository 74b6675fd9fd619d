import { z } from 'zod';
import { SecurityError } from '../core/errors.js';
import { actionsOf, type CompiledPolicy } from './compiled-policy.js';
import type { CompiledPrincipal } from './principal.js';

/**
 * The role and custom permissions a key is about to receive (on create, update or rotate).
 *
 * @example
 * { role: 'user', permissions: { insights: ['read', 'list'] } }
 */
export interface GrantTarget {
  readonly role: string;
  readonly permissions?: Readonly<Record<string, readonly string[]>> | null;
}

/**
 * Why a grant was refused, in `details.reason` of ERR_PRIVILEGE_ESCALATION.
 *
 * @example
 * if (isSecurityError(e) && e.details?.reason === 'admin_only_role') reply(403)
 */
export type EscalationReason =
  | 'actor_unknown_role'
  | 'admin_only_role'
  | 'role_exceeds_actor'
  | 'permissions_exceed_actor';

/**
 * A refused grant: the reason and, for the mask checks, the first resource and action at fault.
 *
 * @example
 * { reason: 'permissions_exceed_actor', role: 'user', resource: 'api_keys', action: 'delete' }
 */
export interface Escalation {
  readonly reason: EscalationReason;
  readonly role: string;
  readonly resource?: string;
  readonly action?: string;
}

const targetSchema = z.object({
  role: z.string(),
  permissions: z.record(z.string(), z.array(z.string())).nullable().optional(),
});

/**
 * Validates what a key is about to receive, strictly (unlike a check, which only reports unknown
 * names of a stored key): the role must exist and every resource and action of its permissions
 * must be declared by the policy (aliases allowed, `'*'` not).
 *
 * @example
 * validateGrantTarget(compiled, { role: 'user', permissions: { reports: ['read', 'list'] } })
 *
 * @throws ERR_UNKNOWN_ROLE for an unknown role; ERR_INVALID_PERMISSIONS for a malformed map or
 *   an unknown resource or action (the message names it: policy names are not secret).
 */
export function validateGrantTarget(compiled: CompiledPolicy, target: GrantTarget): void {
  const parsed = targetSchema.safeParse(target);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`);
    throw new SecurityError('ERR_INVALID_PERMISSIONS', `invalid grant: ${problems.join('; ')}`, { details: { problems } });
  }
  const { role, permissions } = parsed.data;
  if (!compiled.roles.has(role)) {
    throw new SecurityError('ERR_UNKNOWN_ROLE', `unknown role "${role}"`, { details: { role } });
  }
  const problems: string[] = [];
  for (const [resource, actions] of Object.entries(permissions ?? {})) {
    if (!compiled.resourceIndex.has(resource)) problems.push(`unknown resource "${resource}"`);
    for (const a of actions) if (!compiled.actionIndex.has(a)) problems.push(`unknown action "${a}" on "${resource}"`);
  }
  if (problems.length > 0) {
    throw new SecurityError('ERR_INVALID_PERMISSIONS', `invalid permissions: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
}

/**
 * Finds the first way in which granting `target` would give a key more than `actor` holds, or
 * null when the grant is safe. Invariants, in order:
 * 1. an actor whose role is unknown holds nothing and grants nothing;
 * 2. an admin-only role is granted only by an actor whose own role is admin-only;
 * 3. the target's role, taken without its custom permissions, holds nothing the actor lacks
 *    (a role is itself a privilege, whatever the overrides narrow);
 * 4. the target's effective permissions (role plus overrides) hold nothing the actor lacks.
 * The actor's own overrides count: a restricted admin key cannot grant what it was restricted from.
 *
 * @example
 * findEscalation(compiled, manager, userWithDeleteOnApiKeys) // { reason: 'permissions_exceed_actor', ... }
 *
 * @throws nothing
 */
export function findEscalation(
  compiled: CompiledPolicy,
  actor: CompiledPrincipal,
  target: CompiledPrincipal,
): Escalation | null {
  const role = target.role;
  if (actor.masks === null) return { reason: 'actor_unknown_role', role };
  if (compiled.adminOnly.has(role) && !compiled.adminOnly.has(actor.role)) return { reason: 'admin_only_role', role };
  const roleMasks = compiled.roles.get(role)?.masks;
  return (
    (roleMasks && exceeding(compiled, actor.masks, roleMasks, 'role_exceeds_actor', role)) ||
    (target.masks && exceeding(compiled, actor.masks, target.masks, 'permissions_exceed_actor', role)) ||
    null
  );
}

/**
 * The fixed-form error for an {@link Escalation}.
 *
 * @example
 * throw escalationError(escalation, 'next')
 *
 * @throws nothing (it returns the error)
 */
export function escalationError(e: Escalation, subject: 'next' | 'previous'): SecurityError {
  const what =
    e.reason === 'actor_unknown_role'
      ? 'the actor has an unknown role'
      : e.reason === 'admin_only_role'
        ? `only an admin-only role may grant role "${e.role}"`
        : `the ${subject === 'previous' ? 'existing key' : 'grant'} would hold ${e.resource}:${e.action}, which the actor lacks`;
  const details: Record<string, string> = { reason: e.reason, role: e.role, subject };
  if (e.resource !== undefined) details.resource = e.resource;
  if (e.action !== undefined) details.action = e.action;
  return new SecurityError('ERR_PRIVILEGE_ESCALATION', `privilege escalation: ${what}`, { details });
}

function exceeding(
  compiled: CompiledPolicy,
  actor: Int32Array,
  target: Int32Array,
  reason: EscalationReason,
  role: string,
): Escalation | null {
  for (let r = 0; r < target.length; r++) {
    const extra = target[r]! & ~actor[r]!;
    if (extra !== 0) {
      return { reason, role, resource: compiled.policy.resources[r]!, action: actionsOf(compiled, extra)[0]! };
    }
  }
  return null;
}
