import { SecurityError, decryptionFailed, type ErrorCode } from '../core/errors.js';

/**
 * KMS errors as typed errors. Kept apart from the provider so that this mapping, the part a
 * security reviewer reads closely, needs no AWS SDK import and stays small.
 */

/** The KMS operations this library calls. */
export type KmsOperation = 'GenerateDataKey' | 'Decrypt';

/** Codes that mean the configuration or the key policy needs an operator, not a retry. */
export const OPERATOR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['ERR_KMS_ACCESS_DENIED', 'ERR_KMS_KEY_DISABLED', 'ERR_KMS_KEY_NOT_FOUND']);

const CODE_BY_ERROR_NAME: ReadonlyMap<string, ErrorCode> = new Map<string, ErrorCode>(Object.entries({
  ThrottlingException: 'ERR_KMS_THROTTLED',
  LimitExceededException: 'ERR_KMS_THROTTLED',
  AccessDeniedException: 'ERR_KMS_ACCESS_DENIED',
  DisabledException: 'ERR_KMS_KEY_DISABLED',
  KeyUnavailableException: 'ERR_KMS_KEY_DISABLED',
  KMSInvalidStateException: 'ERR_KMS_KEY_DISABLED',
  NotFoundException: 'ERR_KMS_KEY_NOT_FOUND',
  InvalidCiphertextException: 'ERR_DECRYPTION_FAILED',
  IncorrectKeyException: 'ERR_DECRYPTION_FAILED',
  KMSInternalException: 'ERR_KMS_UNAVAILABLE',
  DependencyTimeoutException: 'ERR_KMS_UNAVAILABLE',
  TimeoutError: 'ERR_KMS_UNAVAILABLE',
}) as Array<[string, ErrorCode]>);

/** Node's codes for a connection that failed or was cut: KMS could not be reached. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED',
]);

const MESSAGES: Readonly<Partial<Record<ErrorCode, (operation: KmsOperation) => string>>> = {
  ERR_KMS_THROTTLED: (op) => `KMS ${op} was throttled; retry later`,
  ERR_KMS_ACCESS_DENIED: (op) => `KMS ${op} was denied: the caller lacks permission on the key`,
  ERR_KMS_KEY_DISABLED: (op) => `KMS ${op} failed: the key is disabled, pending deletion or unavailable`,
  ERR_KMS_KEY_NOT_FOUND: (op) => `KMS ${op} failed: the key was not found`,
  ERR_KMS_UNAVAILABLE: (op) => `KMS ${op} failed: the service is unavailable or did not answer in time`,
  ERR_KMS_FAILURE: (op) => `KMS ${op} failed`,
};

/**
 * Turns an SDK error into a typed error with a fixed message. The KMS message is never copied:
 * it can name ARNs and accounts. Only the error's name (a shape name) goes into `details`.
 */
export function mapKmsError(error: unknown, operation: KmsOperation): SecurityError {
  const code = classify(error);
  if (code === 'ERR_DECRYPTION_FAILED') return decryptionFailed(error);
  const e = asRecord(error);
  const name = shortName(e.name);
  const status = asRecord(e.$metadata).httpStatusCode;
  return new SecurityError(code, MESSAGES[code]!(operation), {
    cause: error,
    details: {
      operation,
      ...(name === undefined ? {} : { kmsError: name }),
      ...(typeof status === 'number' ? { httpStatus: status } : {}),
    },
  });
}

function classify(error: unknown): ErrorCode {
  const e = asRecord(error);
  const name = shortName(e.name);
  const byName = name === undefined ? undefined : CODE_BY_ERROR_NAME.get(name);
  if (byName !== undefined) return byName;
  const status = asRecord(e.$metadata).httpStatusCode;
  if (asRecord(e.$retryable).throttling === true || status === 429) return 'ERR_KMS_THROTTLED';
  if ((typeof status === 'number' && status >= 500) || e.$fault === 'server') return 'ERR_KMS_UNAVAILABLE';
  if (isNetworkError(e)) return 'ERR_KMS_UNAVAILABLE';
  return 'ERR_KMS_FAILURE';
}

function isNetworkError(e: Record<string, unknown>): boolean {
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return true;
  if (typeof e.message === 'string' && e.message.includes('socket hang up')) return true;
  // Node reports a failed multi-address connect as an AggregateError of per-address errors.
  return Array.isArray(e.errors) && e.errors.some((inner) => isNetworkError(asRecord(inner)));
}

/** The shape name, without a Smithy namespace (`com.amazonaws.kms#NotFoundException`). */
function shortName(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const short = name.slice(name.lastIndexOf('#') + 1);
  return /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(short) ? short : undefined;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}
