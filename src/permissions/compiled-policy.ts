import { makeDecision, type PermissionDecision } from './decision.js';
import type { PermissionPolicy } from './policy.js';

/**
 * One role of a compiled policy: an action bitmask per resource, and the frozen decision of every
 * (resource, action) question, laid out as `table[resourceIndex * stride + actionIndex]`.
 *
 * @example
 * compiled.roles.get('manager')!.masks[3] // api_keys: create | read | update | list
 */
export interface CompiledRole {
  readonly name: string;
  /** Bit `i` of `masks[r]` set: the role holds action `i` on resource `r` (real actions only). */
  readonly masks: Int32Array;
  readonly table: readonly PermissionDecision[];
  /** Per-key (custom) decisions of this role, built on first use: `[(slot << 1) | allowed]`. */
  readonly custom: Array<PermissionDecision | undefined>;
}

/**
 * A policy compiled to integer indices and bitmasks (the idea of CASL's rule index): a check is two
 * map lookups and one array read.
 *
 * @example
 * const slot = compiled.resourceIndex.get('reports')! * compiled.stride + compiled.actionIndex.get('read')!
 */
export interface CompiledPolicy {
  readonly policy: PermissionPolicy;
  readonly resourceIndex: ReadonlyMap<string, number>;
  /** Real actions first (index = bit), then aliases. */
  readonly actionIndex: ReadonlyMap<string, number>;
  readonly actionNames: readonly string[];
  /** Number of real actions plus aliases: the row width of every decision table. */
  readonly stride: number;
  /** Bits an action index requires: one bit for an action, the union of its actions for an alias. */
  readonly required: Int32Array;
  readonly roles: ReadonlyMap<string, CompiledRole>;
  readonly adminOnly: ReadonlySet<string>;
}

/**
 * Compiles a validated policy once: indices, masks, and one frozen decision per role, resource and
 * action (aliases included).
 *
 * @example
 * const compiled = compilePolicy(definePolicy(DEFAULT_POLICY))
 * compiled.roles.get('user')!.table[0] // the decision for (user, reports, create)
 *
 * @throws nothing (the policy was validated by definePolicy)
 */
export function compilePolicy(policy: PermissionPolicy): CompiledPolicy {
  const actionNames = [...policy.actions, ...Object.keys(policy.aliases)];
  const stride = actionNames.length;
  const resourceIndex = new Map(policy.resources.map((r, i) => [r, i] as const));
  const actionIndex = new Map(actionNames.map((a, i) => [a, i] as const));
  const required = new Int32Array(stride);
  policy.actions.forEach((_, i) => (required[i] = 1 << i));
  Object.values(policy.aliases).forEach((list, j) => {
    required[policy.actions.length + j] = bitsOf(actionIndex, list);
  });
  const roles = new Map<string, CompiledRole>();
  for (const [name, grants] of Object.entries(policy.roles)) {
    const masks = new Int32Array(policy.resources.length);
    const table: PermissionDecision[] = [];
    policy.resources.forEach((resource, r) => {
      masks[r] = bitsOf(actionIndex, grants[resource] ?? []);
      actionNames.forEach((action, a) => {
        const allowed = holds(masks[r]!, required[a]!);
        table.push(makeDecision(allowed, allowed ? 'role_grant' : 'role_denied', name, resource, action));
      });
    });
    roles.set(name, Object.freeze({ name, masks, table: Object.freeze(table), custom: [] }));
  }
  return Object.freeze({
    policy,
    resourceIndex,
    actionIndex,
    actionNames: Object.freeze(actionNames),
    stride,
    required,
    roles,
    adminOnly: new Set(policy.adminOnlyRoles),
  });
}

/**
 * True when `held` has every bit of `needed`.
 *
 * @example
 * holds(0b111, 0b101) // true
 *
 * @throws nothing
 */
export function holds(held: number, needed: number): boolean {
  return (held & needed) === needed;
}

/**
 * The action bits named by a list of actions and aliases. Names the policy does not know are
 * skipped and, when `unknown` is given, pushed to it.
 *
 * @example
 * maskOf(compiled, ['read', 'list']) // 0b10010 under the default policy
 *
 * @throws nothing
 */
export function maskOf(compiled: CompiledPolicy, actions: readonly string[], unknown?: string[]): number {
  let mask = 0;
  for (const name of actions) {
    const a = compiled.actionIndex.get(name);
    if (a === undefined) unknown?.push(name);
    else mask |= compiled.required[a]!;
  }
  return mask;
}

/**
 * The real action names a mask holds, in policy order.
 *
 * @example
 * actionsOf(compiled, 0b10010) // ['read', 'list']
 *
 * @throws nothing
 */
export function actionsOf(compiled: CompiledPolicy, mask: number): string[] {
  return compiled.policy.actions.filter((_, i) => (mask & (1 << i)) !== 0);
}

/**
 * The shared frozen decision for a per-key (custom) answer of a role, built on first use and then
 * reused by every principal of that role.
 *
 * @example
 * customDecision(compiled, compiled.roles.get('user')!, 0, 1, true) // custom_grant user reports read
 *
 * @throws nothing
 */
export function customDecision(
  compiled: CompiledPolicy,
  role: CompiledRole,
  resource: number,
  action: number,
  allowed: boolean,
): PermissionDecision {
  const slot = ((resource * compiled.stride + action) << 1) | (allowed ? 1 : 0);
  let decision = role.custom[slot];
  if (decision === undefined) {
    decision = makeDecision(
      allowed,
      allowed ? 'custom_grant' : 'custom_override_denied',
      role.name,
      compiled.policy.resources[resource]!,
      compiled.actionNames[action]!,
    );
    role.custom[slot] = decision;
  }
  return decision;
}

function bitsOf(actionIndex: ReadonlyMap<string, number>, actions: readonly string[]): number {
  let mask = 0;
  for (const name of actions) {
    const i = actionIndex.get(name);
    if (i !== undefined) mask |= 1 << i;
  }
  return mask;
}
