/**
 * Why a permission check came out as it did.
 *
 * @example
 * if (decision.reason === 'unknown_resource') logger.error({ resource: decision.resource }, 'route names no resource')
 *
 * - `role_grant` / `role_denied`: the principal's role decided (no per-key permission names the resource).
 * - `custom_grant` / `custom_override_denied`: the key's own permissions name the resource and
 *   replace the role's actions on it.
 * - `unknown_role`, `unknown_resource`, `unknown_action`: a configuration mistake; never allowed.
 */
export type DecisionReason =
  | 'role_grant'
  | 'role_denied'
  | 'custom_grant'
  | 'custom_override_denied'
  | 'unknown_role'
  | 'unknown_resource'
  | 'unknown_action';

/**
 * The outcome of one check, with its reason, for the caller, the audit row and tests. Decisions
 * for known names are built and frozen when the policy (or a principal) is compiled: the same
 * object comes back for the same question, so a check allocates nothing.
 *
 * @example
 * const d = evaluator.can(apiKey, 'reports', 'delete')
 * // { allowed: false, reason: 'role_denied', role: 'user', resource: 'reports', action: 'delete' }
 */
export interface PermissionDecision {
  readonly allowed: boolean;
  readonly reason: DecisionReason;
  /** The principal's role (the one that matched, or the unknown one). */
  readonly role: string;
  readonly resource: string;
  readonly action: string;
}

/**
 * Makes a frozen decision. Every decision has the same property order, so reading
 * `decision.allowed` on the request path stays monomorphic.
 *
 * @example
 * makeDecision(true, 'role_grant', 'admin', 'users', 'delete')
 *
 * @throws nothing
 */
export function makeDecision(
  allowed: boolean,
  reason: DecisionReason,
  role: string,
  resource: string,
  action: string,
): PermissionDecision {
  return Object.freeze({ allowed, reason, role, resource, action });
}

/**
 * Grants and denials of one resource and action since the previous {@link PermissionStats}.
 *
 * @example
 * { resource: 'reports', action: 'list', grants: 1204, denials: 3 }
 */
export interface PermissionCount {
  readonly resource: string;
  readonly action: string;
  readonly grants: number;
  readonly denials: number;
}

/**
 * Counts of checks over an interval, for one aggregated audit row per interval instead of one row
 * per granted request.
 *
 * @example
 * setInterval(() => audit.record({ event: 'authz.summary', ...evaluator.stats() }), 60_000)
 */
export interface PermissionStats {
  /** Start of the interval (the previous `stats()` call, or the evaluator's creation), epoch ms. */
  readonly sinceMs: number;
  /** End of the interval (this call), epoch ms. */
  readonly untilMs: number;
  readonly grants: number;
  /** Denials of known role, resource and action. */
  readonly denials: number;
  /** Checks that named an unknown role, resource or action (each also reported to `onDecision`). */
  readonly unknown: number;
  /** Only the (resource, action) pairs checked at least once in the interval. */
  readonly counts: readonly PermissionCount[];
}
