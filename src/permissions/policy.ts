import { z } from 'zod';
import { SecurityError } from '../core/errors.js';

/**
 * A permission policy as a host writes it: plain data, validated once by {@link definePolicy}.
 *
 * @example
 * { resources: ['reports'], actions: ['read', 'list'], roles: { viewer: { reports: ['read', 'list'] } } }
 *
 * - `resources`, `actions`: every name the policy knows; anything else is unknown and grants nothing.
 * - `aliases`: shorthands that stand for several actions (`manage` → create, read, update, delete,
 *   list). Usable in role grants, in per-key permissions and in `can(p, resource, 'manage')`, which
 *   is allowed only when every action of the alias is allowed.
 * - `roles`: role → resource → actions. The key `'*'` means every resource of the policy and the
 *   action `'*'` every action, both expanded once when the policy is defined.
 * - `adminOnlyRoles`: roles that only an actor holding one of these roles may grant.
 */
export interface PolicyDefinition {
  readonly resources: readonly string[];
  readonly actions: readonly string[];
  /** @default {} */
  readonly aliases?: Readonly<Record<string, readonly string[]>>;
  readonly roles: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  /** @default ['admin'] when the policy has an `admin` role, else [] */
  readonly adminOnlyRoles?: readonly string[];
}

/**
 * A validated policy, expanded: no `'*'` and no alias left in `roles`, each role lists every
 * resource (possibly with no action) and its actions in the policy's order. Deeply frozen.
 *
 * @example
 * definePolicy(DEFAULT_POLICY).roles.readonly.users // []
 */
export interface PermissionPolicy {
  readonly resources: readonly string[];
  readonly actions: readonly string[];
  readonly aliases: Readonly<Record<string, readonly string[]>>;
  readonly roles: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  readonly adminOnlyRoles: readonly string[];
}

/**
 * The wildcard of role grants: every resource (as a key) or every action (in a list).
 *
 * @example
 * roles: { admin: { [WILDCARD]: [WILDCARD] } }
 */
export const WILDCARD = '*';

/**
 * Limits that keep the compiled tables small: one action bit each in a 32-bit mask.
 *
 * @example
 * POLICY_LIMITS.actions // 32
 */
export const POLICY_LIMITS = Object.freeze({ resources: 128, actions: 32, aliases: 16, roles: 64 });

/** The actions of the default policy, in order. */
const CRUDL = ['create', 'read', 'update', 'delete', 'list'] as const;
const VIEW = ['read', 'list'] as const;
const CREATE_AND_VIEW = ['create', 'read', 'list'] as const;

/**
 * The default policy, from the spec: admin has everything; manager manages reports, insights and
 * workflows, with limited API-key, user and security access; user creates and views reports,
 * insights and workflows; readonly only views them. The table is in docs/permissions.md.
 *
 * @example
 * // Add a resource, restrict manager on API keys, add a role: spread the default.
 * const policy = definePolicy({
 *   ...DEFAULT_POLICY,
 *   resources: [...DEFAULT_POLICY.resources, 'dashboards'],
 *   roles: { ...DEFAULT_POLICY.roles, manager: { ...DEFAULT_POLICY.roles.manager, api_keys: ['read', 'list'] },
 *            auditor: { security: ['read', 'list'] } },
 * })
 */
export const DEFAULT_POLICY = deepFreeze({
  resources: ['reports', 'insights', 'workflows', 'api_keys', 'users', 'security'],
  actions: [...CRUDL],
  aliases: { manage: [...CRUDL] },
  roles: {
    admin: { [WILDCARD]: [WILDCARD] },
    manager: {
      reports: ['manage'],
      insights: ['manage'],
      workflows: ['manage'],
      api_keys: ['create', 'read', 'update', 'list'],
      users: [...VIEW],
      security: ['read'],
    },
    user: { reports: [...CREATE_AND_VIEW], insights: [...CREATE_AND_VIEW], workflows: [...CREATE_AND_VIEW] },
    readonly: { reports: [...VIEW], insights: [...VIEW], workflows: [...VIEW] },
  },
  adminOnlyRoles: ['admin'],
} as const) satisfies PolicyDefinition;

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const nameSchema = z.string().regex(NAME);
const nameList = z.array(nameSchema);

const definitionSchema = z
  .object({
    resources: nameList.min(1).max(POLICY_LIMITS.resources),
    actions: nameList.min(1).max(POLICY_LIMITS.actions),
    aliases: z.record(nameSchema, nameList.min(1)).optional(),
    roles: z.record(nameSchema, z.record(z.string(), z.array(z.string()))),
    adminOnlyRoles: nameList.optional(),
  })
  .strict()
  .superRefine((def, ctx) => {
    const issue = (path: Array<string | number>, message: string) => ctx.addIssue({ code: 'custom', path, message });
    const resources = new Set(def.resources);
    const actions = new Set(def.actions);
    const aliases = def.aliases ?? {};
    duplicates(def.resources).forEach((n) => issue(['resources'], `duplicate resource "${n}"`));
    duplicates(def.actions).forEach((n) => issue(['actions'], `duplicate action "${n}"`));
    const aliasNames = Object.keys(aliases);
    if (aliasNames.length > POLICY_LIMITS.aliases) issue(['aliases'], `more than ${POLICY_LIMITS.aliases} aliases`);
    for (const alias of aliasNames) {
      if (actions.has(alias)) issue(['aliases', alias], `alias "${alias}" is also an action`);
      for (const a of aliases[alias] ?? []) if (!actions.has(a)) issue(['aliases', alias], `unknown action "${a}"`);
    }
    const roleNames = Object.keys(def.roles);
    if (roleNames.length === 0) issue(['roles'], 'no role');
    if (roleNames.length > POLICY_LIMITS.roles) issue(['roles'], `more than ${POLICY_LIMITS.roles} roles`);
    for (const role of roleNames) {
      for (const [resource, list] of Object.entries(def.roles[role] ?? {})) {
        if (resource !== WILDCARD && !resources.has(resource)) issue(['roles', role], `unknown resource "${resource}"`);
        for (const a of list) {
          if (a !== WILDCARD && !actions.has(a) && !Object.hasOwn(aliases, a)) {
            issue(['roles', role, resource], `unknown action "${a}"`);
          }
        }
      }
    }
    const admins = def.adminOnlyRoles ?? [];
    duplicates(admins).forEach((n) => issue(['adminOnlyRoles'], `duplicate role "${n}"`));
    for (const r of admins) if (!Object.hasOwn(def.roles, r)) issue(['adminOnlyRoles'], `unknown role "${r}"`);
  });

/**
 * Validates a policy definition and expands it (wildcards and aliases) into a frozen
 * {@link PermissionPolicy}. Runs once, when an evaluator is created; never on a request.
 *
 * @example
 * const policy = definePolicy(DEFAULT_POLICY)
 * policy.roles.manager.reports // ['create', 'read', 'update', 'delete', 'list']
 *
 * @throws ERR_INVALID_POLICY naming each problem (duplicate or empty names, a role granting an
 *   unknown resource or action, an alias that shadows an action, an unknown admin-only role, limits).
 */
export function definePolicy(definition: PolicyDefinition): PermissionPolicy {
  const result = definitionSchema.safeParse(definition);
  if (!result.success) {
    // Only names reach the message: custom issues quote policy names, never a secret; built-in zod
    // messages could echo input, so those are reduced to path and code.
    const problems = result.error.issues.map(
      (i) => `${i.path.join('.') || '(root)'}: ${i.code === 'custom' ? i.message : i.code}`,
    );
    throw new SecurityError('ERR_INVALID_POLICY', `invalid permission policy: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  const def = result.data;
  const aliases = def.aliases ?? {};
  // Own properties only: a policy may name a resource or action `constructor` or `toString`.
  const own = <V>(record: Readonly<Record<string, V>>, key: string): V | undefined =>
    Object.hasOwn(record, key) ? record[key] : undefined;
  const expand = (list: readonly string[]): string[] => {
    const held = new Set<string>();
    for (const a of list) {
      if (a === WILDCARD) def.actions.forEach((x) => held.add(x));
      else (own(aliases, a) ?? [a]).forEach((x) => held.add(x));
    }
    return def.actions.filter((x) => held.has(x));
  };
  const roles = Object.fromEntries(
    Object.entries(def.roles).map(([role, grants]) => {
      const all = own(grants, WILDCARD) ?? [];
      const row = def.resources.map((r) => [r, expand([...all, ...(own(grants, r) ?? [])])] as const);
      return [role, Object.fromEntries(row)] as const;
    }),
  );
  return deepFreeze({
    resources: [...def.resources],
    actions: [...def.actions],
    aliases: Object.fromEntries(Object.entries(aliases).map(([k, v]) => [k, def.actions.filter((a) => v.includes(a))])),
    roles,
    adminOnlyRoles: def.adminOnlyRoles ?? (Object.hasOwn(def.roles, 'admin') ? ['admin'] : []),
  });
}

function duplicates(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return [...new Set(names.filter((n) => seen.has(n) || !seen.add(n)))];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}
