import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { createPermissionEvaluator } from '../../src/permissions/evaluator.js';
import { DEFAULT_POLICY, definePolicy, type PolicyDefinition } from '../../src/permissions/policy.js';

const ACTIONS = ['create', 'read', 'update', 'delete', 'list'] as const;

/** The matrix as docs/permissions.md states it: resource → role → actions. */
function documentedMatrix(): Map<string, Map<string, Set<string>>> {
  const doc = readFileSync(new URL('../../docs/permissions.md', import.meta.url), 'utf8');
  const block = doc.split('<!-- permission-matrix:start -->')[1]!.split('<!-- permission-matrix:end -->')[0]!;
  const rows = block.trim().split('\n').map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
  const [header, , ...body] = rows;
  const roles = header!.slice(1);
  const matrix = new Map<string, Map<string, Set<string>>>();
  for (const [resourceCell, ...cells] of body) {
    const byRole = new Map<string, Set<string>>();
    roles.forEach((role, i) => {
      const cell = cells[i]!;
      byRole.set(role, new Set(cell === '—' ? [] : cell.split(',').map((a) => a.trim())));
    });
    matrix.set(resourceCell!.replaceAll('`', ''), byRole);
  }
  return matrix;
}

describe('the default matrix', () => {
  const evaluator = createPermissionEvaluator({ logger: silentLogger });
  const matrix = documentedMatrix();

  it('documents every role and resource of the default policy', () => {
    expect([...matrix.keys()]).toEqual([...DEFAULT_POLICY.resources]);
    for (const byRole of matrix.values()) expect([...byRole.keys()]).toEqual(Object.keys(DEFAULT_POLICY.roles));
  });

  const cases = [...matrix].flatMap(([resource, byRole]) =>
    [...byRole].flatMap(([role, held]) => ACTIONS.map((action) => [role, resource, action, held.has(action)] as const)),
  );
  it.each(cases)('%s on %s may %s: %s (as documented)', (role, resource, action, allowed) => {
    const decision = evaluator.can({ role }, resource, action);
    expect(decision).toEqual({ allowed, reason: allowed ? 'role_grant' : 'role_denied', role, resource, action });
  });

  it('grants manage exactly where a role holds all five actions', () => {
    for (const [resource, byRole] of matrix) {
      for (const [role, held] of byRole) {
        expect(evaluator.can({ role }, resource, 'manage').allowed).toBe(held.size === ACTIONS.length);
      }
    }
  });

  it('is frozen all the way down', () => {
    expect(Object.isFrozen(DEFAULT_POLICY.roles.manager.api_keys)).toBe(true);
    expect(Object.isFrozen(evaluator.policy.roles)).toBe(true);
  });
});

/** The problems of an invalid policy, as ERR_INVALID_POLICY lists them. */
function problemsOf(definition: unknown): string[] {
  try {
    definePolicy(definition as PolicyDefinition);
  } catch (error) {
    expect(error).toMatchObject({ code: 'ERR_INVALID_POLICY' });
    return (error as { details: { problems: string[] } }).details.problems;
  }
  throw new Error('the policy was accepted');
}

describe('policy validation (ERR_INVALID_POLICY)', () => {
  const base = { resources: ['reports'], actions: ['read'], roles: { reader: { reports: ['read'] } } };

  it('accepts the minimal policy', () => {
    expect(definePolicy(base).roles).toEqual({ reader: { reports: ['read'] } });
  });

  it.each([
    ['duplicate resources', { ...base, resources: ['reports', 'reports'] }, 'duplicate resource "reports"'],
    ['duplicate actions', { ...base, actions: ['read', 'read'] }, 'duplicate action "read"'],
    ['a role granting an unknown resource', { ...base, roles: { reader: { reportz: ['read'] } } }, 'unknown resource "reportz"'],
    ['a role granting an unknown action', { ...base, roles: { reader: { reports: ['reed'] } } }, 'unknown action "reed"'],
    ['an alias named like an action', { ...base, aliases: { read: ['read'] } }, 'alias "read" is also an action'],
    ['an alias of an unknown action', { ...base, aliases: { all: ['write'] } }, 'unknown action "write"'],
    ['an unknown admin-only role', { ...base, adminOnlyRoles: ['owner'] }, 'unknown role "owner"'],
    ['a duplicate admin-only role', { ...base, adminOnlyRoles: ['reader', 'reader'] }, 'duplicate role "reader"'],
    ['no role', { ...base, roles: {} }, 'no role'],
  ])('refuses %s', (_, definition, problem) => {
    expect(problemsOf(definition).join('\n')).toContain(problem);
  });

  it.each([
    ['an empty resource name', { ...base, resources: [''] }],
    ['an empty action name', { ...base, actions: [''] }],
    ['an empty role name', { ...base, roles: { '': {} } }],
    ['a wildcard resource name', { ...base, resources: ['*'] }],
    ['a name with a colon', { ...base, actions: ['read:all'] }],
    ['a __proto__ role', JSON.parse('{"resources":["r"],"actions":["a"],"roles":{"__proto__":{"r":["a"]}}}')],
    ['no resources', { ...base, resources: [] }],
    ['no actions', { ...base, actions: [] }],
    ['33 actions (one bit each)', { ...base, actions: Array.from({ length: 33 }, (_, i) => `a${i}`) }],
    ['an unknown key', { ...base, permissions: {} }],
    ['a role that is not a map', { ...base, roles: { reader: ['read'] } }],
  ])('refuses %s', (_, definition) => {
    expect(problemsOf(definition).length).toBeGreaterThan(0);
  });

  it('lists every problem at once, naming names but echoing no other input', () => {
    const problems = problemsOf({ ...base, resources: ['reports', 'reports'], roles: { reader: { nope: ['x'] } } });
    expect(problems).toHaveLength(3);
  });

  it('createPermissionEvaluator validates its policy too', () => {
    expect(() => createPermissionEvaluator({ policy: { ...base, roles: {} } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_POLICY' }),
    );
    expect(() => createPermissionEvaluator({ grantAuditSampleRate: 2 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }),
    );
  });
});

describe('a custom policy', () => {
  const policy = {
    ...DEFAULT_POLICY,
    resources: [...DEFAULT_POLICY.resources, 'dashboards'],
    actions: [...DEFAULT_POLICY.actions, 'export'],
    aliases: { manage: [...DEFAULT_POLICY.aliases.manage, 'export'] },
    roles: {
      ...DEFAULT_POLICY.roles,
      manager: { ...DEFAULT_POLICY.roles.manager, api_keys: ['read', 'list'], dashboards: ['read'] },
      auditor: { security: ['read', 'list'], dashboards: ['read', 'export'] },
    },
    adminOnlyRoles: ['admin', 'auditor'],
  };
  const evaluator = createPermissionEvaluator({ policy, logger: silentLogger });

  it('adds a resource, an action and a role; admin gets them through its wildcard', () => {
    expect(evaluator.can({ role: 'auditor' }, 'dashboards', 'export').reason).toBe('role_grant');
    expect(evaluator.can({ role: 'auditor' }, 'reports', 'read').reason).toBe('role_denied');
    expect(evaluator.can({ role: 'admin' }, 'dashboards', 'export').allowed).toBe(true);
    expect(evaluator.can({ role: 'manager' }, 'reports', 'export').allowed).toBe(true);
    expect(evaluator.can({ role: 'user' }, 'reports', 'export').allowed).toBe(false);
  });

  it('restricts a default role', () => {
    expect(evaluator.can({ role: 'manager' }, 'api_keys', 'create').reason).toBe('role_denied');
    expect(evaluator.can({ role: 'manager' }, 'api_keys', 'list').reason).toBe('role_grant');
  });

  it('makes an added role admin-only', () => {
    expect(() => evaluator.assertCanGrant({ role: 'admin' }, { role: 'auditor' })).not.toThrow();
    expect(() => evaluator.assertCanGrant({ role: 'manager' }, { role: 'auditor' })).toThrow(
      expect.objectContaining({ code: 'ERR_PRIVILEGE_ESCALATION', details: expect.objectContaining({ reason: 'admin_only_role' }) }),
    );
  });

  it('renames a default resource with a map over the default policy', () => {
    const rename = (name: string) => (name === 'reports' ? 'documents' : name);
    const renamed = createPermissionEvaluator({
      logger: silentLogger,
      policy: {
        ...DEFAULT_POLICY,
        resources: DEFAULT_POLICY.resources.map(rename),
        roles: Object.fromEntries(
          Object.entries(DEFAULT_POLICY.roles).map(([role, grants]) => [
            role,
            Object.fromEntries(Object.entries(grants).map(([r, list]) => [rename(r), list])),
          ]),
        ),
      },
    });
    expect(renamed.can({ role: 'user' }, 'documents', 'create').reason).toBe('role_grant');
    expect(renamed.can({ role: 'user' }, 'reports', 'create').reason).toBe('unknown_resource');
  });

  it('takes names that are also Object.prototype members literally', () => {
    const odd = createPermissionEvaluator({
      logger: silentLogger,
      policy: {
        resources: ['constructor', 'toString'],
        actions: ['valueOf', 'hasOwnProperty'],
        roles: { constructor: { toString: ['valueOf'] }, isPrototypeOf: {} },
      },
    });
    expect(odd.can({ role: 'constructor' }, 'toString', 'valueOf').reason).toBe('role_grant');
    expect(odd.can({ role: 'constructor' }, 'constructor', 'valueOf').reason).toBe('role_denied');
    expect(odd.can({ role: 'isPrototypeOf' }, 'toString', 'hasOwnProperty').reason).toBe('role_denied');
    expect(odd.can({ role: 'toString' }, 'toString', 'valueOf').reason).toBe('unknown_role');
    expect(odd.can({ role: 'constructor', permissions: {} }, 'toString', 'valueOf').reason).toBe('role_grant');
  });

  it('uses all 32 action bits, the last one included', () => {
    const actions = Array.from({ length: 32 }, (_, i) => `a${i}`);
    const wide = createPermissionEvaluator({
      logger: silentLogger,
      policy: { resources: ['r'], actions, aliases: { high: ['a30', 'a31'] }, roles: { top: { r: ['a31'] }, all: { r: ['*'] } } },
    });
    expect(wide.can({ role: 'top' }, 'r', 'a31').allowed).toBe(true);
    expect(wide.can({ role: 'top' }, 'r', 'a30').allowed).toBe(false);
    expect(wide.can({ role: 'top' }, 'r', 'high').allowed).toBe(false);
    expect(wide.can({ role: 'all' }, 'r', 'high').allowed).toBe(true);
    expect(wide.permissionsOf({ role: 'top' })).toEqual({ r: ['a31'] });
    expect(() => wide.assertCanGrant({ role: 'top' }, { role: 'all' })).toThrow(expect.objectContaining({ code: 'ERR_PRIVILEGE_ESCALATION' }));
    expect(() => wide.assertCanGrant({ role: 'all' }, { role: 'top', permissions: { r: ['high'] } })).not.toThrow();
  });

  it('defaults adminOnlyRoles to admin when the policy has an admin role, else to none', () => {
    const { adminOnlyRoles, ...rest } = DEFAULT_POLICY;
    expect(definePolicy(rest).adminOnlyRoles).toEqual(['admin']);
    expect(definePolicy({ resources: ['r'], actions: ['a'], roles: { x: {} } }).adminOnlyRoles).toEqual([]);
    expect(adminOnlyRoles).toEqual(['admin']);
  });
});
