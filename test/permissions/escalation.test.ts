import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import type { GrantTarget } from '../../src/permissions/escalation.js';
import { createPermissionEvaluator } from '../../src/permissions/evaluator.js';
import type { CompiledPrincipal, Principal } from '../../src/permissions/principal.js';

const evaluator = createPermissionEvaluator({ logger: silentLogger });
const admin: Principal = { role: 'admin' };
const manager: Principal = { role: 'manager' };
const user: Principal = { role: 'user' };
const readonly: Principal = { role: 'readonly' };

function escalation(actor: Principal | CompiledPrincipal, next: GrantTarget, previous?: GrantTarget) {
  try {
    evaluator.assertCanGrant(actor, next, previous);
  } catch (error) {
    expect(error).toMatchObject({ code: 'ERR_PRIVILEGE_ESCALATION' });
    return (error as { details: Record<string, string> }).details;
  }
  return null;
}

describe('no privilege escalation: a key never receives a role or permission its grantor lacks', () => {
  it('a manager cannot grant the admin role (admin-only role)', () => {
    expect(escalation(manager, { role: 'admin' })).toEqual({ reason: 'admin_only_role', role: 'admin', subject: 'next' });
  });

  it('a manager cannot grant delete on api_keys, which it lacks', () => {
    expect(escalation(manager, { role: 'user', permissions: { api_keys: ['delete'] } })).toMatchObject({
      reason: 'permissions_exceed_actor', resource: 'api_keys', action: 'delete',
    });
    expect(escalation(manager, { role: 'user', permissions: { api_keys: ['manage'] } })).toMatchObject({
      reason: 'permissions_exceed_actor', resource: 'api_keys', action: 'delete',
    });
  });

  it('a user cannot grant the manager role', () => {
    expect(escalation(user, { role: 'manager' })).toMatchObject({ reason: 'role_exceeds_actor', resource: 'reports', action: 'update' });
  });

  it('a user cannot grant the manager role even with overrides narrowing it to its own level', () => {
    const narrowed = { reports: ['read'], insights: [], workflows: [], api_keys: [], users: [], security: [] };
    expect(escalation(user, { role: 'manager', permissions: narrowed })).toMatchObject({ reason: 'role_exceeds_actor' });
  });

  it('custom permissions cannot reach beyond the actor', () => {
    expect(escalation(user, { role: 'readonly', permissions: { users: ['read'] } })).toMatchObject({
      reason: 'permissions_exceed_actor', resource: 'users', action: 'read',
    });
    expect(escalation(user, { role: 'user', permissions: { reports: ['update'] } })).toMatchObject({
      reason: 'permissions_exceed_actor', resource: 'reports', action: 'update',
    });
    expect(escalation(readonly, { role: 'readonly', permissions: { reports: ['create'] } })).toMatchObject({
      reason: 'permissions_exceed_actor',
    });
  });

  it("the actor's own custom permissions count: a restricted admin key cannot grant the admin role", () => {
    const restricted = { role: 'admin', permissions: { users: ['read', 'list'] } };
    expect(escalation(restricted, { role: 'admin' })).toMatchObject({ reason: 'role_exceeds_actor', resource: 'users', action: 'create' });
    expect(escalation(restricted, { role: 'manager' })).toBeNull();
    const compiled = evaluator.compilePrincipal({ role: 'manager', permissions: { reports: ['read'] } });
    expect(escalation(compiled, { role: 'manager' })).toMatchObject({ resource: 'reports', action: 'create' });
  });

  it('an actor with an unknown role grants nothing', () => {
    expect(escalation({ role: 'root' }, { role: 'readonly', permissions: { reports: [] } })).toMatchObject({ reason: 'actor_unknown_role' });
  });

  it('an admin can grant every role and every permission', () => {
    for (const role of ['admin', 'manager', 'user', 'readonly']) {
      expect(escalation(admin, { role, permissions: { reports: ['manage'], security: ['read', 'list'] } })).toBeNull();
    }
  });

  it('a principal can grant what it holds: its own role and anything below it', () => {
    expect(escalation(manager, { role: 'manager' })).toBeNull();
    expect(escalation(manager, { role: 'user', permissions: { api_keys: ['read', 'list'], security: ['read'] } })).toBeNull();
    expect(escalation(user, { role: 'user', permissions: { reports: ['read'] } })).toBeNull();
    expect(escalation(user, { role: 'readonly' })).toBeNull();
    expect(escalation(readonly, { role: 'readonly', permissions: null })).toBeNull();
  });

  it('on update or rotation, an actor cannot touch a key stronger than itself', () => {
    expect(escalation(manager, { role: 'user' }, { role: 'admin' })).toMatchObject({ reason: 'admin_only_role', subject: 'previous' });
    const strongUser = { role: 'user', permissions: { users: ['delete'] } };
    expect(escalation(manager, { role: 'user' }, strongUser)).toMatchObject({ reason: 'permissions_exceed_actor', subject: 'previous' });
    expect(escalation(manager, strongUser, strongUser)).toMatchObject({ subject: 'next' });
    expect(escalation(manager, { role: 'user' }, { role: 'manager' })).toBeNull();
    expect(escalation(admin, { role: 'readonly' }, { role: 'admin' })).toBeNull();
  });
});

describe('the grant is validated against the policy', () => {
  it('an unknown role is ERR_UNKNOWN_ROLE', () => {
    expect(() => evaluator.assertCanGrant(admin, { role: 'root' })).toThrow(
      expect.objectContaining({ code: 'ERR_UNKNOWN_ROLE', details: { role: 'root' } }),
    );
  });

  it.each([
    [{ reportz: ['read'] }, 'unknown resource "reportz"'],
    [{ reports: ['destroy'] }, 'unknown action "destroy" on "reports"'],
    [{ reports: ['*'] }, 'unknown action "*" on "reports"'],
    [{ '*': ['read'] }, 'unknown resource "*"'],
  ])('%o is ERR_INVALID_PERMISSIONS naming the offender', (permissions, problem) => {
    expect(() => evaluator.assertCanGrant(admin, { role: 'user', permissions })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_PERMISSIONS', message: expect.stringContaining(problem) }),
    );
  });

  it('a malformed map is ERR_INVALID_PERMISSIONS', () => {
    for (const permissions of ['reports', ['reports'], { reports: 'read' }, { reports: [1] }]) {
      const target = { role: 'user', permissions } as unknown as GrantTarget;
      expect(() => evaluator.assertCanGrant(admin, target)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PERMISSIONS' }));
    }
  });

  it('validation comes before the escalation check', () => {
    expect(() => evaluator.assertCanGrant(readonly, { role: 'admin', permissions: { nope: [] } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_PERMISSIONS' }),
    );
  });
});
