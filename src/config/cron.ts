import { Cron } from 'croner';

/** True for a pattern croner accepts (5 or 6 fields, or a nickname such as @daily). */
export function isCron(expression: string): boolean {
  try {
    new Cron(expression, { paused: true }).stop();
    return true;
  } catch {
    // croner throws for any invalid pattern, and its message quotes the pattern: not reported.
    return false;
  }
}

/** True when the pattern fires at least once from now on. */
export function cronFires(expression: string): boolean {
  const job = new Cron(expression, { paused: true });
  // A valid pattern can still never match (such as 30 February): a schedule that never runs would
  // silently disable rotation or monitoring.
  const next = job.nextRun();
  job.stop();
  return next !== null;
}

