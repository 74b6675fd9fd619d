import { describe, expect, it } from 'vitest';
import { createPermissionEvaluator } from '../../src/permissions/evaluator.js';
import { silentLogger } from '../../src/core/logger.js';

describe('validateGrant', () => {
  const evaluator = createPermissionEvaluator({ logger: silentLogger });

  it('accepts a known role with permissions the policy defines', () => {
    expect(() => evaluator.validateGrant({ role: 'user', permissions: { reports: ['create', 'read', 'list'], insights: ['read', 'list'] } })).not.toThrow();
    expect(() => evaluator.validateGrant({ role: 'readonly', permissions: null })).not.toThrow();
  });

  it('refuses an unknown role, resource or action by its code', () => {
    expect(() => evaluator.validateGrant({ role: 'root', permissions: null })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_ROLE' }));
    expect(() => evaluator.validateGrant({ role: 'user', permissions: { billing: ['read'] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PERMISSIONS' }));
    expect(() => evaluator.validateGrant({ role: 'user', permissions: { reports: ['approve'] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PERMISSIONS' }));
  });
});
