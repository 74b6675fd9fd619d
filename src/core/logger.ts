/**
 * The logger shape the library writes to: pino's (`logger.warn(obj, msg)`), so a host passes its
 * pino, bunyan-compatible or console-backed logger. Objects passed here never hold secrets.
 */
export interface Logger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

const noop = (): void => {};

/**
 * The default logger: silent for debug and info; warnings and errors go out as Node process
 * warnings (`process.emitWarning`), so a security warning is never lost when the host wires no
 * logger, and a host can still silence or route them with `process.on('warning')`.
 */
export const defaultLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (obj, msg) => process.emitWarning(msg, { type: 'SecurityWarning', detail: safeDetail(obj) }),
  error: (obj, msg) => process.emitWarning(msg, { type: 'SecurityError', detail: safeDetail(obj) }),
};

/** A logger that drops everything; for tests and hosts that log elsewhere. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

function safeDetail(obj: Record<string, unknown>): string | undefined {
  try {
    return Object.keys(obj).length === 0 ? undefined : JSON.stringify(obj);
  } catch {
    // A circular or BigInt-holding object must not turn a warning into a crash.
    return undefined;
  }
}
