import type { Clock } from '../core/clock.js';
import type { CompiledPolicy } from './compiled-policy.js';
import type { PermissionCount, PermissionStats } from './decision.js';

/**
 * Preallocated counters of one evaluator: one slot per (resource, action), like its decision tables.
 *
 * @example
 * counters.denials[slot]!++
 */
export interface DecisionCounters {
  /** Grants by `resource * stride + action`; incremented in place on the request path. */
  readonly grants: Float64Array;
  /** Denials of known names, same layout. */
  readonly denials: Float64Array;
  /** Counts one check that named an unknown role, resource or action. */
  unknown(): void;
  /** Returns the counts since the previous snapshot and resets them. */
  snapshot(): PermissionStats;
}

/**
 * Creates the counters behind `evaluator.stats()`. Float64Array rather than Uint32Array: a busy
 * interval must not wrap at 2^32; doubles count exactly up to 2^53.
 *
 * @example
 * const counters = createDecisionCounters(compiled, Date.now)
 * counters.grants[0]!++
 * counters.snapshot().grants // 1
 *
 * @throws nothing
 */
export function createDecisionCounters(compiled: CompiledPolicy, clock: Clock): DecisionCounters {
  const size = compiled.policy.resources.length * compiled.stride;
  const grants = new Float64Array(size);
  const denials = new Float64Array(size);
  let unknownCount = 0;
  let sinceMs = clock();
  return {
    grants,
    denials,
    unknown: () => {
      unknownCount++;
    },
    snapshot: () => {
      const untilMs = clock();
      const counts: PermissionCount[] = [];
      let grantTotal = 0;
      let denialTotal = 0;
      for (let slot = 0; slot < size; slot++) {
        const g = grants[slot]!;
        const d = denials[slot]!;
        if (g === 0 && d === 0) continue;
        grantTotal += g;
        denialTotal += d;
        counts.push({
          resource: compiled.policy.resources[Math.floor(slot / compiled.stride)]!,
          action: compiled.actionNames[slot % compiled.stride]!,
          grants: g,
          denials: d,
        });
      }
      const stats: PermissionStats = { sinceMs, untilMs, grants: grantTotal, denials: denialTotal, unknown: unknownCount, counts };
      grants.fill(0);
      denials.fill(0);
      unknownCount = 0;
      sinceMs = untilMs;
      return stats;
    },
  };
}
