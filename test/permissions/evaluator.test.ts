import { describe, expect, it, vi } from 'vitest';
import { silentLogger, type Logger } from '../../src/core/logger.js';
import type { PermissionDecision } from '../../src/permissions/decision.js';
import { createPermissionEvaluator, type PermissionEvaluatorOptions } from '../../src/permissions/evaluator.js';
import type { Principal } from '../../src/permissions/principal.js';

const evaluatorWith = (options: PermissionEvaluatorOptions = {}) =>
  createPermissionEvaluator({ logger: silentLogger, ...options });

/** The spec's example key. */
const specKey: Principal = {
  id: 'key-1',
  role: 'user',
  permissions: { reports: ['create', 'read', 'list'], insights: ['read', 'list'] },
};

describe('per-key custom permissions', () => {
  const evaluator = evaluatorWith();
  const compiled = evaluator.compilePrincipal(specKey);

  it.each([
    ['raw', specKey],
    ['compiled', compiled],
  ] as const)('replace the role actions only for the resources they name (%s principal)', (_, principal) => {
    expect(evaluator.can(principal, 'reports', 'create').reason).toBe('custom_grant');
    expect(evaluator.can(principal, 'insights', 'read').reason).toBe('custom_grant');
    expect(evaluator.can(principal, 'insights', 'create').reason).toBe('custom_override_denied');
    expect(evaluator.can(principal, 'workflows', 'create').reason).toBe('role_grant');
    expect(evaluator.can(principal, 'workflows', 'update').reason).toBe('role_denied');
    expect(evaluator.permissionsOf(principal)).toEqual({
      reports: ['create', 'read', 'list'],
      insights: ['read', 'list'],
      workflows: ['create', 'read', 'list'],
    });
  });

  it('an empty list denies every action on that resource', () => {
    const key = evaluator.compilePrincipal({ role: 'admin', permissions: { users: [] } });
    for (const action of ['create', 'read', 'update', 'delete', 'list', 'manage']) {
      expect(evaluator.can(key, 'users', action)).toMatchObject({ allowed: false, reason: 'custom_override_denied' });
    }
    expect(evaluator.can(key, 'api_keys', 'delete').reason).toBe('role_grant');
  });

  it('may hold more than the role on a resource (the escalation guard bounds who grants that)', () => {
    const key = { role: 'readonly', permissions: { security: ['read'], reports: ['manage'] } };
    expect(evaluator.can(key, 'security', 'read').reason).toBe('custom_grant');
    expect(evaluator.can(key, 'reports', 'delete').reason).toBe('custom_grant');
    expect(evaluator.can(key, 'reports', 'manage').reason).toBe('custom_grant');
  });

  it('unknown names in permissions grant nothing, and compiling reports them', () => {
    const warn = vi.fn();
    const logger: Logger = { ...silentLogger, warn };
    const noisy = evaluatorWith({ logger });
    const key = noisy.compilePrincipal({ role: 'user', permissions: { reportz: ['read'], reports: ['read', 'destroy'] } });
    expect(key.issues).toEqual(['unknown resource "reportz"', 'unknown action "destroy" on "reports"']);
    expect(warn).toHaveBeenCalledOnce();
    expect(noisy.can(key, 'reports', 'read').reason).toBe('custom_grant');
    expect(noisy.can(key, 'reports', 'create').reason).toBe('custom_override_denied');
  });

  it('malformed permissions are refused with ERR_INVALID_PERMISSIONS, never ignored', () => {
    for (const permissions of ['{"reports":["read"]}', ['read'], { reports: 'read' }, { reports: [1] }]) {
      const principal = { role: 'user', permissions } as unknown as Principal;
      expect(() => evaluator.compilePrincipal(principal)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PERMISSIONS' }));
    }
    const raw = { role: 'user', permissions: '{"reports":["read"]}' } as unknown as Principal;
    expect(() => evaluator.can(raw, 'reports', 'read')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PERMISSIONS' }));
  });

  it('a compiled principal from another policy is judged afresh by this one', () => {
    const other = evaluatorWith({ policy: { resources: ['reports'], actions: ['read'], roles: { user: {} } } });
    const foreign = other.compilePrincipal({ role: 'user' });
    expect(other.can(foreign, 'reports', 'read').allowed).toBe(false);
    expect(evaluator.can(foreign, 'reports', 'read').reason).toBe('role_grant');
  });
});

describe('unknown role, resource or action', () => {
  it('is denied with its reason and reported to onDecision', () => {
    const seen: PermissionDecision[] = [];
    const evaluator = evaluatorWith({ onDecision: (d) => seen.push(d) });
    expect(evaluator.can({ role: 'root' }, 'reports', 'read')).toEqual({
      allowed: false, reason: 'unknown_role', role: 'root', resource: 'reports', action: 'read',
    });
    expect(evaluator.can({ role: 'admin' }, 'reportz', 'read').reason).toBe('unknown_resource');
    expect(evaluator.can({ role: 'admin' }, 'reports', 'destroy').reason).toBe('unknown_action');
    expect(evaluator.can({ role: 'admin' }, 'reports', '*').reason).toBe('unknown_action');
    expect(seen.map((d) => d.reason)).toEqual(['unknown_role', 'unknown_resource', 'unknown_action', 'unknown_action']);
    expect(evaluator.stats()).toMatchObject({ grants: 0, denials: 0, unknown: 4 });
  });

  it('an unknown role grants nothing, whatever its custom permissions say', () => {
    const evaluator = evaluatorWith();
    const key = evaluator.compilePrincipal({ role: 'root', permissions: { reports: ['read'] } });
    expect(key.issues).toEqual(['unknown role "root"']);
    expect(evaluator.can(key, 'reports', 'read').reason).toBe('unknown_role');
    expect(evaluator.can({ role: 'root', permissions: { reports: ['read'] } }, 'reports', 'read').reason).toBe('unknown_role');
    expect(evaluator.permissionsOf(key)).toEqual({});
  });

  it('checks the role first, then the resource, then the action', () => {
    const evaluator = evaluatorWith();
    expect(evaluator.can({ role: 'root' }, 'nope', 'nope').reason).toBe('unknown_role');
    expect(evaluator.can({ role: 'user' }, 'nope', 'nope').reason).toBe('unknown_resource');
  });

  it('a missing or malformed principal is an unknown role, not a crash', () => {
    const evaluator = evaluatorWith();
    for (const principal of [undefined, null, 'admin', { role: 7 }, {}]) {
      expect(evaluator.can(principal as unknown as Principal, 'reports', 'read')).toMatchObject({ allowed: false, reason: 'unknown_role' });
    }
  });
});

describe('assertPermission', () => {
  const evaluator = evaluatorWith();

  it('returns the decision when allowed', () => {
    expect(evaluator.assertPermission({ role: 'manager' }, 'reports', 'delete').reason).toBe('role_grant');
  });

  it.each([
    [{ role: 'user' }, 'reports', 'delete', 'role_denied'],
    [specKey, 'insights', 'create', 'custom_override_denied'],
    [{ role: 'ghost' }, 'reports', 'read', 'unknown_role'],
    [{ role: 'admin' }, 'nope', 'read', 'unknown_resource'],
  ] as const)('throws ERR_PERMISSION_DENIED with a fixed message and the reason (%o %s %s)', (principal, resource, action, reason) => {
    expect(() => evaluator.assertPermission(principal, resource, action)).toThrow(
      expect.objectContaining({ code: 'ERR_PERMISSION_DENIED', message: 'permission denied', details: { resource, action, reason } }),
    );
  });
});

describe('decisions are preallocated', () => {
  const evaluator = evaluatorWith();
  const compiled = evaluator.compilePrincipal(specKey);
  const plain = evaluator.compilePrincipal({ role: 'manager' });

  it('frozen, and the identical object on every call (nothing allocated per check)', () => {
    for (const [principal, resource, action] of [
      [compiled, 'reports', 'create'],
      [compiled, 'insights', 'create'],
      [compiled, 'workflows', 'create'],
      [plain, 'api_keys', 'delete'],
      [plain, 'reports', 'manage'],
    ] as const) {
      const first = evaluator.can(principal, resource, action);
      expect(Object.isFrozen(first)).toBe(true);
      for (let i = 0; i < 1000; i++) expect(evaluator.can(principal, resource, action)).toBe(first);
    }
  });

  it('shared between principals of one role, raw or compiled, and between compilations', () => {
    expect(evaluator.can({ role: 'manager' }, 'users', 'list')).toBe(evaluator.can(plain, 'users', 'list'));
    const again = evaluator.compilePrincipal({ ...specKey, id: 'key-2' });
    expect(evaluator.can(again, 'insights', 'create')).toBe(evaluator.can(compiled, 'insights', 'create'));
    expect(evaluator.can(specKey, 'insights', 'create')).toBe(evaluator.can(compiled, 'insights', 'create'));
  });

  it('compiling a compiled principal returns it unchanged', () => {
    expect(evaluator.compilePrincipal(compiled)).toBe(compiled);
    expect(Object.isFrozen(compiled)).toBe(true);
  });
});

describe('audit hook and counts', () => {
  const manager = { role: 'manager', id: 'k-m' };

  it('reports every denial with the source principal, and no grant at the default rate', () => {
    const onDecision = vi.fn();
    const evaluator = evaluatorWith({ onDecision });
    const compiled = evaluator.compilePrincipal(manager);
    for (let i = 0; i < 10; i++) evaluator.can(compiled, 'reports', 'read');
    evaluator.can(compiled, 'api_keys', 'delete');
    expect(onDecision).toHaveBeenCalledOnce();
    expect(onDecision).toHaveBeenCalledWith(expect.objectContaining({ allowed: false, reason: 'role_denied' }), manager);
  });

  it.each([
    [1, 12, 12],
    [0.25, 12, 3],
    [0.1, 25, 2],
    [0, 12, 0],
  ])('at rate %d, reports one grant in round(1/rate): %d grants give %d reports', (rate, checks, reported) => {
    const onDecision = vi.fn();
    const evaluator = evaluatorWith({ onDecision, grantAuditSampleRate: rate });
    for (let i = 0; i < checks; i++) evaluator.can(manager, 'reports', 'read');
    expect(onDecision).toHaveBeenCalledTimes(reported);
    expect(evaluator.stats().grants).toBe(checks);
  });

  it('counts grants and denials per resource and action since the previous call, then resets', () => {
    let now = 1_000;
    const evaluator = evaluatorWith({ clock: () => now });
    now = 61_000;
    evaluator.can(manager, 'reports', 'read');
    evaluator.can(manager, 'reports', 'read');
    evaluator.can(manager, 'api_keys', 'delete');
    evaluator.can(manager, 'nope', 'read');
    expect(evaluator.stats()).toEqual({
      sinceMs: 1_000,
      untilMs: 61_000,
      grants: 2,
      denials: 1,
      unknown: 1,
      counts: [
        { resource: 'reports', action: 'read', grants: 2, denials: 0 },
        { resource: 'api_keys', action: 'delete', grants: 0, denials: 1 },
      ],
    });
    now = 121_000;
    expect(evaluator.stats()).toEqual({ sinceMs: 61_000, untilMs: 121_000, grants: 0, denials: 0, unknown: 0, counts: [] });
  });

  it('a hook that throws is logged, and the decision stands', () => {
    const error = vi.fn();
    const evaluator = createPermissionEvaluator({
      logger: { ...silentLogger, error },
      onDecision: () => {
        throw new Error('audit store down');
      },
    });
    expect(evaluator.can({ role: 'user' }, 'users', 'delete').allowed).toBe(false);
    expect(error).toHaveBeenCalledWith({ resource: 'users', action: 'delete' }, 'permission onDecision hook threw');
  });
});
