/**
 * Permission checks per second: the compiled evaluator against CASL, casbin and a plain `Set.has`,
 * on the same policy (the default one: 4 roles, 6 resources, 5 actions) and the same principals
 * (one per role, plus four keys with custom permissions), over the same rotating list of queries.
 */
import { createMongoAbility, type MongoAbility } from '@casl/ability';
import { newEnforcer, newModelFromString, StringAdapter } from 'casbin';
import { silentLogger } from '../src/core/logger.js';
import { createPermissionEvaluator } from '../src/permissions/evaluator.js';
import type { Principal } from '../src/permissions/principal.js';
import { formatOps, measure, ratio, table } from './harness.js';

const PRINCIPALS: readonly Principal[] = [
  { id: 'k-admin', role: 'admin' },
  { id: 'k-manager', role: 'manager' },
  { id: 'k-user', role: 'user' },
  { id: 'k-readonly', role: 'readonly' },
  // The spec's example, and three more shapes of override (narrowing, emptying, widening a view).
  { id: 'k-user-custom', role: 'user', permissions: { reports: ['create', 'read', 'list'], insights: ['read', 'list'] } },
  { id: 'k-manager-custom', role: 'manager', permissions: { api_keys: ['read', 'list'], users: [] } },
  { id: 'k-readonly-custom', role: 'readonly', permissions: { security: ['read'] } },
  { id: 'k-admin-custom', role: 'admin', permissions: { users: ['read', 'list'] } },
];

const CASBIN_MODEL = `
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`;

interface Query {
  readonly index: number;
  readonly resource: string;
  readonly action: string;
}

/** A fixed permutation (a linear congruential shuffle), so every run checks the same sequence. */
function shuffled<T>(items: T[]): T[] {
  let seed = 42;
  for (let i = items.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export async function runPermissionsBench(): Promise<string> {
  const evaluator = createPermissionEvaluator({ logger: silentLogger });
  let hooked = 0;
  const withHook = createPermissionEvaluator({ logger: silentLogger, onDecision: () => void hooked++ });
  const { resources, actions, roles } = evaluator.policy;
  const compiled = PRINCIPALS.map((p) => evaluator.compilePrincipal(p));
  const compiledHooked = PRINCIPALS.map((p) => withHook.compilePrincipal(p));
  const effective = PRINCIPALS.map((p) => evaluator.permissionsOf(p));

  // CASL: one ability per principal, its role's rules with the overridden resources replaced.
  const abilities: MongoAbility[] = PRINCIPALS.map((p) => {
    const grants = { ...roles[p.role], ...p.permissions };
    return createMongoAbility(
      Object.entries(grants)
        .filter(([, list]) => list.length > 0)
        .map(([subject, list]) => ({ action: [...list], subject })),
    );
  });

  // casbin: role rules plus g(key, role) for plain keys; a key with custom permissions gets its own rules.
  const lines: string[] = [];
  for (const [role, grants] of Object.entries(roles)) {
    for (const [resource, list] of Object.entries(grants)) for (const a of list) lines.push(`p, role:${role}, ${resource}, ${a}`);
  }
  PRINCIPALS.forEach((p, i) => {
    if (p.permissions == null) lines.push(`g, ${p.id}, role:${p.role}`);
    else for (const [resource, list] of Object.entries(effective[i]!)) for (const a of list) lines.push(`p, ${p.id}, ${resource}, ${a}`);
  });
  const enforcer = await newEnforcer(newModelFromString(CASBIN_MODEL), new StringAdapter(lines.join('\n')));

  const queries: Query[] = [];
  PRINCIPALS.forEach((_, index) => resources.forEach((resource) => actions.forEach((action) => queries.push({ index, resource, action }))));
  shuffled(queries);

  // The plain baseline: every granted (key, resource, action) as a string in a Set, and the query
  // keys precomputed, so a check is one Set.has on a string whose hash is already cached.
  const granted = new Set<string>();
  effective.forEach((map, i) => Object.entries(map).forEach(([r, list]) => list.forEach((a) => granted.add(`${i}:${r}:${a}`))));
  const keys = queries.map((q) => `${q.index}:${q.resource}:${q.action}`);
  const rawPrincipals = PRINCIPALS;
  const ids = PRINCIPALS.map((p) => p.id!);

  for (const [i, q] of queries.entries()) {
    const expected = granted.has(keys[i]!);
    const answers = [
      evaluator.can(compiled[q.index]!, q.resource, q.action).allowed,
      abilities[q.index]!.can(q.action, q.resource),
      enforcer.enforceSync(ids[q.index], q.resource, q.action),
    ];
    if (answers.some((a) => a !== expected)) throw new Error(`contenders disagree on ${keys[i]}`);
  }

  const n = queries.length;
  let sink = 0;
  const tasks: Array<readonly [string, () => void]> = [
    ['Set.has baseline', () => {
      for (let i = 0; i < n; i++) if (granted.has(keys[i]!)) sink++;
    }],
    ['evaluator.can (compiled principals)', () => {
      for (let i = 0; i < n; i++) {
        const q = queries[i]!;
        if (evaluator.can(compiled[q.index]!, q.resource, q.action).allowed) sink++;
      }
    }],
    ['evaluator.can (compiled, onDecision hook set)', () => {
      for (let i = 0; i < n; i++) {
        const q = queries[i]!;
        if (withHook.can(compiledHooked[q.index]!, q.resource, q.action).allowed) sink++;
      }
    }],
    ['evaluator.can (raw principals)', () => {
      for (let i = 0; i < n; i++) {
        const q = queries[i]!;
        if (evaluator.can(rawPrincipals[q.index]!, q.resource, q.action).allowed) sink++;
      }
    }],
    ['CASL ability.can', () => {
      for (let i = 0; i < n; i++) {
        const q = queries[i]!;
        if (abilities[q.index]!.can(q.action, q.resource)) sink++;
      }
    }],
    ['casbin enforceSync', () => {
      for (let i = 0; i < n; i++) {
        const q = queries[i]!;
        if (enforcer.enforceSync(ids[q.index], q.resource, q.action)) sink++;
      }
    }],
  ];
  const results = await measure(tasks, { rounds: 5, timeMs: 400 });
  if (sink === 0 || hooked === 0) throw new Error('the benchmark checked nothing');
  const checks = (name: string) => results.find((r) => r.name === name)!.opsPerSecond * n;
  const ours = checks('evaluator.can (compiled principals)');
  const rows = results.map((r) => [r.name, formatOps(r.opsPerSecond * n), ratio(r.opsPerSecond * n, checks('Set.has baseline'))]);
  return [
    `## Permission checks (${Object.keys(roles).length} roles, ${resources.length} resources, ${actions.length} actions, ${PRINCIPALS.length} keys of which 4 with custom permissions, ${n} queries per pass)`,
    '',
    table(['contender', 'checks/s', '× Set.has'], rows),
    '',
    table(
      ['target', 'ratio', 'goal'],
      [
        ['evaluator / Set.has', ratio(ours, checks('Set.has baseline')), '≥ 0.5'],
        ['evaluator / CASL can', ratio(ours, checks('CASL ability.can')), '≥ 1'],
        ['evaluator / casbin enforceSync', ratio(ours, checks('casbin enforceSync')), '≥ 100'],
      ],
    ),
  ].join('\n');
}
