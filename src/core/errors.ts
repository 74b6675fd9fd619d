/**
 * One error class for the whole library, with a stable string code per failure.
 *
 * Codes are part of the public contract: renaming one is a breaking change, adding one is a minor
 * change. `details` never hold key material, plaintext or the offending input value.
 */

/** Every failure the library reports, as a stable string code. */
export type ErrorCode =
  | 'ERR_INVALID_OPTIONS'
  | 'ERR_INVALID_CONFIG'
  | 'ERR_INSECURE_KEY'
  | 'ERR_INVALID_INPUT'
  | 'ERR_INVALID_CONTEXT'
  | 'ERR_PLAINTEXT_TOO_LARGE'
  | 'ERR_ENVELOPE_MALFORMED'
  | 'ERR_ENVELOPE_TOO_LARGE'
  | 'ERR_UNSUPPORTED_FORMAT'
  | 'ERR_UNKNOWN_KEY'
  | 'ERR_UNKNOWN_KEY_VERSION'
  | 'ERR_DECRYPTION_FAILED'
  | 'ERR_KEY_PROVIDER_FAILURE'
  | 'ERR_KMS_THROTTLED'
  | 'ERR_KMS_ACCESS_DENIED'
  | 'ERR_KMS_KEY_DISABLED'
  | 'ERR_KMS_KEY_NOT_FOUND'
  | 'ERR_KMS_UNAVAILABLE'
  | 'ERR_KMS_FAILURE'
  | 'ERR_PERMISSION_DENIED'
  | 'ERR_PRIVILEGE_ESCALATION'
  | 'ERR_UNKNOWN_ROLE'
  | 'ERR_INVALID_PERMISSIONS'
  | 'ERR_INVALID_POLICY'
  | 'ERR_AUDIT_WRITE_FAILED'
  | 'ERR_API_KEY_NOT_FOUND'
  | 'ERR_API_KEY_EXISTS'
  | 'ERR_API_KEY_NOT_RECOVERABLE'
  | 'ERR_API_KEY_INVALID_STATE'
  | 'ERR_STORAGE_FAILURE';

const BRAND = Symbol.for('@agentflow/security/SecurityError');

/** Safe, non-secret facts attached to an error: names, counts, versions, never values. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | readonly string[]>>;

/**
 * The error every public function of the library throws.
 *
 * @example
 * try { await encryptor.decrypt(envelope, { row: '42' }) }
 * catch (e) { if (isSecurityError(e) && e.code === 'ERR_DECRYPTION_FAILED') reject() }
 */
export class SecurityError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SecurityError';
    this.code = code;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True for a {@link SecurityError} from any copy of this library (a `Symbol.for` brand, so two
 * bundles that each hold the class still recognise each other's errors).
 */
export function isSecurityError(value: unknown): value is SecurityError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * The one message every decryption failure carries, whichever check failed (tag, commitment,
 * context, key), so a caller learns nothing it could use as an oracle.
 */
export const DECRYPTION_FAILED_MESSAGE = 'decryption failed';

/** A decryption failure with the fixed message; the cause is kept for the operator, not the client. */
export function decryptionFailed(cause?: unknown): SecurityError {
  return new SecurityError('ERR_DECRYPTION_FAILED', DECRYPTION_FAILED_MESSAGE, { cause });
}
