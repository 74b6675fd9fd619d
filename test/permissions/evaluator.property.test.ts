import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSecurityError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { DecisionReason } from '../../src/permissions/decision.js';
import { createPermissionEvaluator } from '../../src/permissions/evaluator.js';
import type { PolicyDefinition } from '../../src/permissions/policy.js';
import type { Principal } from '../../src/permissions/principal.js';

/*
 * The reference: the policy definition read literally, with arrays and Sets, no indices, no masks,
 * no precomputation. It is slow and obviously right; the compiled evaluator must agree with it.
 */
function expand(def: PolicyDefinition, list: readonly string[], wildcard: boolean): Set<string> {
  const aliases = def.aliases ?? {};
  const held = new Set<string>();
  for (const name of list) {
    if (wildcard && name === '*') def.actions.forEach((a) => held.add(a));
    else if (Object.hasOwn(aliases, name)) aliases[name]!.forEach((a) => held.add(a));
    else if (def.actions.includes(name)) held.add(name);
  }
  return held;
}

function roleHolds(def: PolicyDefinition, role: string, resource: string): Set<string> {
  const grants = def.roles[role]!;
  return expand(def, [...(grants['*'] ?? []), ...(grants[resource] ?? [])], true);
}

function reference(def: PolicyDefinition, p: Principal, resource: string, action: string): DecisionReason {
  if (!Object.hasOwn(def.roles, p.role)) return 'unknown_role';
  if (!def.resources.includes(resource)) return 'unknown_resource';
  const aliases = def.aliases ?? {};
  if (!def.actions.includes(action) && !Object.hasOwn(aliases, action)) return 'unknown_action';
  const needed = Object.hasOwn(aliases, action) ? aliases[action]! : [action];
  if (p.permissions != null && Object.hasOwn(p.permissions, resource)) {
    const held = expand(def, p.permissions[resource]!, false);
    return needed.every((a) => held.has(a)) ? 'custom_grant' : 'custom_override_denied';
  }
  const held = roleHolds(def, p.role, resource);
  return needed.every((a) => held.has(a)) ? 'role_grant' : 'role_denied';
}

/** Every `resource:action` a principal effectively holds, by the reference. */
function effective(def: PolicyDefinition, p: Principal): Set<string> {
  const out = new Set<string>();
  if (!Object.hasOwn(def.roles, p.role)) return out;
  for (const r of def.resources) for (const a of def.actions) if (reference(def, p, r, a).endsWith('grant')) out.add(`${r}:${a}`);
  return out;
}

function roleOnly(def: PolicyDefinition, role: string): Set<string> {
  return Object.hasOwn(def.roles, role) ? effective(def, { role }) : new Set();
}

const subset = (a: Set<string>, b: Set<string>) => [...a].every((x) => b.has(x));

function referenceEscalates(def: PolicyDefinition, actor: Principal, target: Principal): boolean {
  if (!Object.hasOwn(def.roles, actor.role)) return true;
  const adminOnly = def.adminOnlyRoles ?? [];
  if (adminOnly.includes(target.role) && !adminOnly.includes(actor.role)) return true;
  const held = effective(def, actor);
  return !subset(roleOnly(def, target.role), held) || !subset(effective(def, target), held);
}

const RESOURCES = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
const ACTIONS = ['a0', 'a1', 'a2', 'a3', 'a4'];
const ALIASES = ['m0', 'm1'];
const ROLES = ['role0', 'role1', 'role2', 'role3'];

const policyArb = fc
  .record({
    resources: fc.uniqueArray(fc.constantFrom(...RESOURCES), { minLength: 1 }),
    actions: fc.uniqueArray(fc.constantFrom(...ACTIONS), { minLength: 1 }),
    aliasCount: fc.integer({ min: 0, max: 2 }),
    roles: fc.uniqueArray(fc.constantFrom(...ROLES), { minLength: 1 }),
  })
  .chain(({ resources, actions, aliasCount, roles }) => {
    const aliasNames = ALIASES.slice(0, aliasCount);
    const grantable = [...actions, ...aliasNames, '*'];
    return fc.record({
      resources: fc.constant(resources),
      actions: fc.constant(actions),
      aliases: fc.record(Object.fromEntries(aliasNames.map((m) => [m, fc.subarray(actions, { minLength: 1 })]))),
      roles: fc.record(
        Object.fromEntries(
          roles.map((role) => [role, fc.dictionary(fc.constantFrom(...resources, '*'), fc.subarray(grantable), { maxKeys: 4 })]),
        ),
      ),
      adminOnlyRoles: fc.subarray(roles),
    });
  }) as fc.Arbitrary<PolicyDefinition>;

/** A principal of a known or unknown role, with or without overrides, some naming unknown things. */
const principalArb = (def: PolicyDefinition) =>
  fc.record({
    role: fc.constantFrom(...Object.keys(def.roles), 'ghost'),
    permissions: fc.option(
      fc.dictionary(
        fc.constantFrom(...def.resources, 'nores'),
        fc.subarray([...def.actions, ...Object.keys(def.aliases ?? {}), 'noact', '*']),
        { maxKeys: 4 },
      ),
      { nil: null },
    ),
  });

const queryArb = (def: PolicyDefinition) =>
  fc.tuple(fc.constantFrom(...def.resources, 'nores'), fc.constantFrom(...def.actions, ...Object.keys(def.aliases ?? {}), 'noact'));

const scenarioArb = policyArb.chain((def) =>
  fc.record({
    def: fc.constant(def),
    principals: fc.array(principalArb(def), { minLength: 2, maxLength: 4 }),
    queries: fc.array(queryArb(def), { minLength: 1, maxLength: 20 }),
  }),
);

describe('compiled evaluator against the reference (property)', () => {
  it('agrees on allowed and reason for every principal, raw and compiled, and every query', () => {
    fc.assert(
      fc.property(scenarioArb, ({ def, principals, queries }) => {
        const evaluator = createPermissionEvaluator({ policy: def, logger: silentLogger });
        for (const principal of principals) {
          const compiled = evaluator.compilePrincipal(principal);
          for (const [resource, action] of queries) {
            const expected = reference(def, principal, resource, action);
            for (const p of [principal, compiled]) {
              const d = evaluator.can(p, resource, action);
              expect([d.reason, d.allowed, d.role, d.resource, d.action]).toEqual([
                expected, expected.endsWith('grant'), principal.role, resource, action,
              ]);
            }
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('refuses exactly the grants the reference calls an escalation', () => {
    fc.assert(
      fc.property(scenarioArb, ({ def, principals }) => {
        const evaluator = createPermissionEvaluator({ policy: def, logger: silentLogger });
        const [actor, ...others] = principals;
        // Each target also in a form narrowed to exactly what the actor holds, so that only the
        // role itself (or its being admin-only) can make the grant an escalation.
        const held = effective(def, actor!);
        const narrowed = (role: string): Principal => ({
          role,
          permissions: Object.fromEntries(def.resources.map((r) => [r, def.actions.filter((a) => held.has(`${r}:${a}`))])),
        });
        const targets = others.flatMap((t) => [t, narrowed(t.role)]);
        for (const target of targets) {
          // Only grants that pass validation reach the escalation check.
          const valid = Object.hasOwn(def.roles, target.role) && Object.entries(target.permissions ?? {}).every(
            ([r, list]) => def.resources.includes(r) && list.every((a) => def.actions.includes(a) || Object.hasOwn(def.aliases ?? {}, a)),
          );
          let code: string | null = null;
          try {
            evaluator.assertCanGrant(actor!, target);
          } catch (error) {
            code = isSecurityError(error) ? error.code : 'not a SecurityError';
          }
          const expected = !Object.hasOwn(def.roles, target.role)
            ? 'ERR_UNKNOWN_ROLE'
            : !valid
              ? 'ERR_INVALID_PERMISSIONS'
              : referenceEscalates(def, actor!, target)
                ? 'ERR_PRIVILEGE_ESCALATION'
                : null;
          expect(code).toBe(expected);
        }
      }),
      { numRuns: 400 },
    );
  });
});
