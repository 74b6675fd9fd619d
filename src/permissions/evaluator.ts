import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { SecurityError } from '../core/errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import { actionsOf, compilePolicy, type CompiledRole } from './compiled-policy.js';
import { makeDecision, type DecisionReason, type PermissionDecision, type PermissionStats } from './decision.js';
import { escalationError, findEscalation, validateGrantTarget, type GrantTarget } from './escalation.js';
import { DEFAULT_POLICY, definePolicy, type PermissionPolicy, type PolicyDefinition } from './policy.js';
import { COMPILED_FOR, CompiledPrincipal, compilePrincipal, rawOverrideDecision, type Principal } from './principal.js';
import { createDecisionCounters } from './stats.js';

/**
 * Options of {@link createPermissionEvaluator}.
 *
 * @example
 * { policy: DEFAULT_POLICY, grantAuditSampleRate: 0.01, onDecision: (d, p) => audit.authz(d, p) }
 */
export interface PermissionEvaluatorOptions {
  /** The policy (validated once). @default DEFAULT_POLICY */
  readonly policy?: PolicyDefinition;
  /**
   * Receives every denial (known or unknown names) and a sample of grants, with the principal
   * that asked (the source of a compiled principal), for the audit log. Should not throw: an
   * error it throws is logged and swallowed, and the decision stands.
   */
  readonly onDecision?: (decision: PermissionDecision, principal: Principal) => void;
  /**
   * Share of grants passed to `onDecision`, from 0 to 1, applied as "one grant in
   * round(1 / rate)", counted across all checks of the evaluator. Every grant is counted in
   * `stats()` whatever this is. @default 0
   */
  readonly grantAuditSampleRate?: number;
  /** Time of the `stats()` intervals. @default Date.now */
  readonly clock?: Clock;
  /** Where unknown names of a compiled principal and hook failures are reported. @default process warnings */
  readonly logger?: Logger;
}

/**
 * RBAC over a compiled policy. Create one per policy, at startup.
 *
 * @example
 * const key = evaluator.compilePrincipal({ id: 'k1', role: 'manager' })
 * evaluator.can(key, 'reports', 'manage').allowed // true
 */
export interface PermissionEvaluator {
  /** The validated, expanded policy. */
  readonly policy: PermissionPolicy;
  /**
   * Decides whether `principal` may perform `action` on `resource`, with the reason. With a
   * compiled principal and known names the answer is a shared frozen object: nothing is allocated.
   * `action` may be an alias (`manage`): allowed only when every action of the alias is.
   * @example evaluator.can(key, 'reports', 'list') // { allowed: true, reason: 'role_grant', ... }
   * @throws ERR_INVALID_PERMISSIONS only for a raw principal whose permissions are malformed
   *   (a raw principal with permissions is judged without compiling, but its unknown names are
   *   only reported by `compilePrincipal`)
   */
  can(principal: Principal | CompiledPrincipal, resource: string, action: string): PermissionDecision;
  /**
   * As {@link PermissionEvaluator.can}, throwing when denied.
   * @example evaluator.assertPermission(key, 'users', 'delete')
   * @throws ERR_PERMISSION_DENIED with the fixed message "permission denied" and
   *   `details: { resource, action, reason }`
   */
  assertPermission(principal: Principal | CompiledPrincipal, resource: string, action: string): PermissionDecision;
  /**
   * Compiles a principal once, for cheap checks. Unknown names grant nothing and are logged.
   * @example const key = evaluator.compilePrincipal(apiKeyRecord)
   * @throws ERR_INVALID_INPUT (no string role), ERR_INVALID_PERMISSIONS (malformed permissions)
   */
  compilePrincipal(principal: Principal | CompiledPrincipal): CompiledPrincipal;
  /**
   * The effective actions per resource of a principal (resources with none are left out).
   * @example evaluator.permissionsOf({ role: 'readonly' }) // { reports: ['read', 'list'], ... }
   * @throws ERR_INVALID_INPUT, ERR_INVALID_PERMISSIONS as {@link PermissionEvaluator.compilePrincipal}
   */
  permissionsOf(principal: Principal | CompiledPrincipal): Record<string, string[]>;
  /**
   * Refuses to give a key (`next`: the role and permissions it would receive on create, update or
   * rotate) anything the actor lacks. With `previous` (the key as it is now), also refuses to touch a
   * key that holds more than the actor.
   * @example evaluator.assertCanGrant(actingKey, { role: 'user', permissions: { reports: ['read'] } })
   * @throws ERR_UNKNOWN_ROLE, ERR_INVALID_PERMISSIONS (on `next`), ERR_PRIVILEGE_ESCALATION,
   *   ERR_INVALID_INPUT (an actor or previous key without a string role)
   */
  assertCanGrant(actor: Principal | CompiledPrincipal, next: GrantTarget, previous?: GrantTarget): void;
  /**
   * Checks that a role and permission map name only what the policy defines, without an actor.
   * @example evaluator.validateGrant({ role: 'user', permissions: { reports: ['read'] } })
   * @throws ERR_UNKNOWN_ROLE, ERR_INVALID_PERMISSIONS
   */
  validateGrant(target: GrantTarget): void;
  /**
   * Counts since the previous call (or creation), then resets them.
   * @example setInterval(() => audit.summary(evaluator.stats()), 60_000)
   * @throws nothing
   */
  stats(): PermissionStats;
}

const optionsSchema = z
  .object({
    policy: z.custom<PolicyDefinition>((v) => typeof v === 'object' && v !== null).optional(),
    onDecision: z.custom<(d: PermissionDecision, p: Principal) => void>((v) => typeof v === 'function').optional(),
    grantAuditSampleRate: z.number().min(0).max(1).optional(),
    clock: z.custom<Clock>((v) => typeof v === 'function').optional(),
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
  })
  .strict();

const INVALID_PRINCIPAL: Principal = Object.freeze({ role: '' });

/**
 * Creates the permission evaluator: validates and compiles the policy once; every check afterwards
 * is constant time. Deny by default: anything the policy does not grant is denied, and an unknown
 * role, resource or action is denied with its own reason and reported to `onDecision`.
 *
 * @example
 * const permissions = createPermissionEvaluator({ onDecision: (d, p) => audit.authz(d, p) })
 * const key = permissions.compilePrincipal({ role: 'user', permissions: { insights: ['read'] } })
 * permissions.can(key, 'reports', 'create').allowed // true  (role_grant)
 * permissions.can(key, 'insights', 'list').allowed  // false (custom_override_denied)
 * permissions.assertCanGrant(managerKey, { role: 'admin' }) // throws ERR_PRIVILEGE_ESCALATION
 *
 * @throws ERR_INVALID_OPTIONS for bad options, ERR_INVALID_POLICY for a bad policy
 */
export function createPermissionEvaluator(options: PermissionEvaluatorOptions = {}): PermissionEvaluator {
  const opts = parseOptions(optionsSchema, options, 'createPermissionEvaluator');
  const compiled = compilePolicy(definePolicy(opts.policy ?? DEFAULT_POLICY));
  const { resourceIndex, actionIndex, stride } = compiled;
  const logger = opts.logger ?? defaultLogger;
  const onDecision = opts.onDecision;
  const rate = opts.grantAuditSampleRate ?? 0;
  const sampleEvery = rate === 0 ? 0 : Math.max(1, Math.round(1 / rate));
  let countdown = sampleEvery;
  const counters = createDecisionCounters(compiled, opts.clock ?? systemClock);
  const { grants, denials } = counters;

  const report = (decision: PermissionDecision, principal: Principal): void => {
    if (onDecision === undefined) return;
    try {
      onDecision(decision, principal);
    } catch {
      // An audit hook must not turn a decision into a crash; the decision stands either way.
      logger.error({ resource: decision.resource, action: decision.action }, 'permission onDecision hook threw');
    }
  };
  const unknown = (reason: DecisionReason, principal: Principal, resource: string, action: string) => {
    const decision = makeDecision(false, reason, principal.role, String(resource), String(action));
    counters.unknown();
    report(decision, principal);
    return decision;
  };
  const toCompiled = (principal: Principal | CompiledPrincipal): CompiledPrincipal =>
    principal instanceof CompiledPrincipal
      ? principal[COMPILED_FOR] === compiled
        ? principal
        : compilePrincipal(compiled, principal.source, logger)
      : compilePrincipal(compiled, principal, logger);

  const can = (principal: Principal | CompiledPrincipal, resource: string, action: string): PermissionDecision => {
    let table: readonly PermissionDecision[] | null;
    let role: CompiledRole | undefined;
    let overrides: Principal['permissions'] = null;
    let source: Principal;
    if (principal != null && (principal as CompiledPrincipal)[COMPILED_FOR] === compiled) {
      table = (principal as CompiledPrincipal).table;
      source = (principal as CompiledPrincipal).source;
    } else if (principal instanceof CompiledPrincipal) {
      // Compiled for another evaluator (another policy): judged afresh from its source.
      return can(principal.source, resource, action);
    } else if (typeof principal !== 'object' || principal === null || typeof principal.role !== 'string') {
      return unknown('unknown_role', INVALID_PRINCIPAL, resource, action);
    } else {
      role = compiled.roles.get(principal.role);
      table = role === undefined ? null : role.table;
      overrides = principal.permissions;
      source = principal;
    }
    if (table === null) return unknown('unknown_role', source, resource, action);
    const r = resourceIndex.get(resource);
    if (r === undefined) return unknown('unknown_resource', source, resource, action);
    const a = actionIndex.get(action);
    if (a === undefined) return unknown('unknown_action', source, resource, action);
    const slot = r * stride + a;
    const decision = overrides == null ? table[slot]! : rawOverrideDecision(compiled, role!, overrides, r, a);
    if (decision.allowed) {
      grants[slot]!++;
      if (sampleEvery !== 0 && --countdown === 0) {
        countdown = sampleEvery;
        report(decision, source);
      }
    } else {
      denials[slot]!++;
      report(decision, source);
    }
    return decision;
  };

  return Object.freeze({
    policy: compiled.policy,
    can,
    assertPermission(principal: Principal | CompiledPrincipal, resource: string, action: string) {
      const decision = can(principal, resource, action);
      if (!decision.allowed) {
        throw new SecurityError('ERR_PERMISSION_DENIED', 'permission denied', {
          details: { resource: decision.resource, action: decision.action, reason: decision.reason },
        });
      }
      return decision;
    },
    compilePrincipal: toCompiled,
    permissionsOf(principal: Principal | CompiledPrincipal) {
      const masks = toCompiled(principal).masks;
      const result: Record<string, string[]> = {};
      compiled.policy.resources.forEach((resource, r) => {
        const actions = masks === null ? [] : actionsOf(compiled, masks[r]!);
        if (actions.length > 0) result[resource] = actions;
      });
      return result;
    },
    validateGrant(target: GrantTarget) {
      validateGrantTarget(compiled, target);
    },
    assertCanGrant(actor: Principal | CompiledPrincipal, next: GrantTarget, previous?: GrantTarget) {
      validateGrantTarget(compiled, next);
      const holder = toCompiled(actor);
      const target = compilePrincipal(compiled, { role: next.role, permissions: next.permissions ?? null }, logger);
      const escalation = findEscalation(compiled, holder, target);
      if (escalation !== null) throw escalationError(escalation, 'next');
      if (previous !== undefined) {
        const current = compilePrincipal(compiled, { role: previous.role, permissions: previous.permissions ?? null }, logger);
        const existing = findEscalation(compiled, holder, current);
        if (existing !== null) throw escalationError(existing, 'previous');
      }
    },
    stats: counters.snapshot,
  });
}
