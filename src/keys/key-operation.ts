import { isSecurityError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { KeyOperationEvent, KeyOperationHook } from './key-provider.js';

/** What a provider knows of an operation before it runs. */
export type KeyOperationStart = Omit<KeyOperationEvent, 'outcome' | 'durationMs' | 'errorCode'>;

/**
 * Runs one key operation and reports it to the hook with its outcome and duration (wall time from
 * `performance.now()`: a measurement, not a decision, so it needs no injected clock). A hook that
 * throws is logged and ignored: reporting must never change the result of the operation.
 */
export async function reportKeyOperation<T>(
  hook: KeyOperationHook | undefined,
  logger: Logger,
  start: KeyOperationStart,
  run: () => Promise<T>,
): Promise<T> {
  if (hook === undefined) return run();
  const began = performance.now();
  try {
    const result = await run();
    emit(hook, logger, { ...start, outcome: 'success', durationMs: performance.now() - began });
    return result;
  } catch (error) {
    const errorCode = isSecurityError(error) ? error.code : 'ERR_KEY_PROVIDER_FAILURE';
    emit(hook, logger, { ...start, outcome: 'failure', durationMs: performance.now() - began, errorCode });
    throw error;
  }
}

function emit(hook: KeyOperationHook, logger: Logger, event: KeyOperationEvent): void {
  try {
    hook(event);
  } catch (error) {
    logger.error({ operation: event.operation, hookError: String((error as Error)?.name ?? 'Error') }, 'key-operation hook threw');
  }
}
