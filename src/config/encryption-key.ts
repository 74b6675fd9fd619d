import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';
import { SecurityError } from '../core/errors.js';

/**
 * The local root key (`ENCRYPTION_KEY`): parsing, a safe printable form, and a strength check.
 *
 * Invariant: the key bytes never leave a {@link RootKey} except through `bytes()`. Printing,
 * logging, `JSON.stringify`, `util.inspect` and test snapshots show only a non-reversible
 * fingerprint.
 */

/** A root key is exactly this many bytes: an AES-256 / HMAC-SHA256 key. */
export const ROOT_KEY_LENGTH = 32;

const FINGERPRINT_LABEL = 'agentflow-security/root/fingerprint/v1';
const NO_SALT = Buffer.alloc(0);
const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom');

/**
 * A 32-byte root key that never prints itself.
 *
 * The bytes live in a private field; `toJSON`, `toString` and Node's inspect hook return
 * `[redacted root key <fingerprint>]`, so a config object that holds one can be logged, printed or
 * snapshotted safely. Instances are frozen.
 *
 * @example
 * const root = RootKey.fromBytes(parseEncryptionKey(process.env.ENCRYPTION_KEY ?? ''))
 * logger.info({ root: root.fingerprint }, 'root key loaded') // never the bytes
 * const kek = root.bytes() // a copy; zero it when done
 */
export class RootKey {
  readonly #bytes: Buffer;

  /**
   * 16 hex characters of HKDF-SHA256(key, info 'agentflow-security/root/fingerprint/v1'): names the
   * key in logs and records without revealing it. The root key itself is only ever HKDF input, so
   * this and the key-version wrapping key ({@link RootKey.deriveKey}) are independent keys.
   */
  readonly fingerprint: string;

  private constructor(bytes: Uint8Array) {
    this.#bytes = Buffer.from(bytes);
    this.fingerprint = Buffer.from(hkdfSync('sha256', this.#bytes, NO_SALT, FINGERPRINT_LABEL, 8)).toString('hex');
    Object.freeze(this);
  }

  /**
   * Wraps 32 key bytes. The bytes are copied: later changes to `buf` do not reach the key.
   *
   * @example
   * const root = RootKey.fromBytes(crypto.randomBytes(32))
   * @throws ERR_INVALID_CONFIG when `buf` is not exactly 32 bytes.
   */
  static fromBytes(buf: Uint8Array): RootKey {
    if (!(buf instanceof Uint8Array) || buf.length !== ROOT_KEY_LENGTH) {
      throw new SecurityError('ERR_INVALID_CONFIG', 'a root key must be exactly 32 bytes', {
        details: { problems: ['root key is not 32 bytes'], variables: ['ENCRYPTION_KEY'] },
      });
    }
    return new RootKey(buf);
  }

  /**
   * A 32-byte key for one purpose, derived with HKDF-SHA256 under `info`; the caller owns it and
   * should `fill(0)` it when done. Each purpose of the root (wrapping key versions, the
   * fingerprint) uses its own label, so the root key is never used directly by two algorithms.
   *
   * @example
   * const wrappingKey = root.deriveKey('agentflow-security/root/key-version-wrap/v1')
   */
  deriveKey(info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#bytes, NO_SALT, info, 32));
  }

  /**
   * A fresh copy of the key bytes; the caller owns it and should `fill(0)` it when done.
   *
   * @example
   * const kek = root.bytes(); try { use(kek) } finally { kek.fill(0) }
   */
  bytes(): Buffer {
    return Buffer.from(this.#bytes);
  }

  /**
   * `[redacted root key <fingerprint>]`, so `JSON.stringify` never shows the key.
   *
   * @example
   * JSON.stringify({ root }) // '{"root":"[redacted root key 1f2e3d4c5b6a7980]"}'
   */
  toJSON(): string {
    return this.toString();
  }

  /**
   * `[redacted root key <fingerprint>]`.
   *
   * @example
   * `${root}` // '[redacted root key 1f2e3d4c5b6a7980]'
   */
  toString(): string {
    return `[redacted root key ${this.fingerprint}]`;
  }

  /** Node's `util.inspect` (and so `console.log`) shows the redacted form. */
  [INSPECT](): string {
    return this.toString();
  }
}

const HEX_64 = /^[0-9a-fA-F]{64}$/;
const BASE64_BODY = /^[A-Za-z0-9+/]+$/;
const BASE64URL_BODY = /^[A-Za-z0-9_-]+$/;

/**
 * Decodes an `ENCRYPTION_KEY` value: exactly 64 hex characters, or canonical base64 / base64url
 * (padding optional) that decodes to exactly 32 bytes. Surrounding whitespace (a trailing newline
 * from a secrets file) is ignored. Nothing is guessed: a passphrase, a 32-character string or a
 * key of another length is refused rather than stretched or padded.
 *
 * @param text the encoded key.
 * @param variable the name used in the error message.
 * @default variable 'ENCRYPTION_KEY'
 * @example
 * parseEncryptionKey(crypto.randomBytes(32).toString('base64')) // 32-byte Buffer
 * parseEncryptionKey(crypto.randomBytes(32).toString('hex'))    // 32-byte Buffer
 * @throws ERR_INVALID_CONFIG when the text is not 32 bytes in one of those forms. The message names
 *   the variable and the expected form, never the value.
 */
export function parseEncryptionKey(text: string, variable = 'ENCRYPTION_KEY'): Buffer {
  const decoded = typeof text === 'string' ? decode(text.trim()) : undefined;
  if (decoded === undefined) throw malformedKey(variable);
  return decoded;
}

function decode(text: string): Buffer | undefined {
  if (HEX_64.test(text)) return Buffer.from(text, 'hex');
  const body = text.replace(/=+$/, '');
  const padding = text.length - body.length;
  // Padding is optional, but when present it must be the right amount for the body.
  if (padding > 0 && text.length % 4 !== 0) return undefined;
  const encoding = BASE64_BODY.test(body) ? 'base64' : BASE64URL_BODY.test(body) ? 'base64url' : undefined;
  if (encoding === undefined) return undefined;
  const bytes = Buffer.from(body, encoding);
  // Node's decoder is lenient (it drops stray bits): only a text that re-encodes to itself is accepted,
  // so one key has one spelling.
  if (bytes.length !== ROOT_KEY_LENGTH || bytes.toString(encoding).replace(/=+$/, '') !== body) return undefined;
  return bytes;
}

function malformedKey(variable: string): SecurityError {
  const problem = `${variable} must be 32 bytes encoded as base64, base64url or hex (64 hex characters); the value given is not 32 bytes in any of these forms`;
  return new SecurityError('ERR_INVALID_CONFIG', `invalid security configuration: ${problem}`, {
    details: { problems: [problem], variables: [variable] },
  });
}

/** Why a key is weak: a published or placeholder key, or bytes with far less than 256 bits of entropy. */
export type WeakKeyReason = 'known_default' | 'low_entropy';

/** The result of {@link assessKeyStrength}. */
export type KeyStrength = { readonly weak: false } | { readonly weak: true; readonly reason: WeakKeyReason };

const DEVELOPMENT_KEY = createHash('sha256').update('agentflow-security development key - never use in production').digest();

/**
 * The key the library uses outside production when `ENCRYPTION_KEY` is unset: SHA-256 of
 * 'agentflow-security development key - never use in production'. It is public, so
 * {@link assessKeyStrength} reports it as `known_default`. This is a copy: changing it changes
 * nothing inside the library.
 *
 * @example
 * assessKeyStrength(DEVELOPMENT_ENCRYPTION_KEY_BYTES) // { weak: true, reason: 'known_default' }
 */
export const DEVELOPMENT_ENCRYPTION_KEY_BYTES: Buffer = Buffer.from(DEVELOPMENT_KEY);

/**
 * A {@link RootKey} over {@link DEVELOPMENT_ENCRYPTION_KEY_BYTES}, built from the library's own copy.
 * For development and tests only: the key is public.
 *
 * @example
 * const root = developmentRootKey() // what loadSecurityConfig uses outside production when ENCRYPTION_KEY is unset
 */
export function developmentRootKey(): RootKey {
  return RootKey.fromBytes(DEVELOPMENT_KEY);
}

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const padTo32 = (s: string, fill: string): Buffer => ascii(s.padEnd(ROOT_KEY_LENGTH, fill));

/**
 * Keys that are public, as 32 bytes, kept only as SHA-256 digests. Each is a key someone is
 * likely to ship by mistake: the library's own development key, degenerate byte patterns,
 * placeholders from example `.env` files, and SHA-256 of the empty string (what "hash the variable"
 * yields when the variable is unset).
 */
const KNOWN_DEFAULT_DIGESTS: readonly Buffer[] = [
  DEVELOPMENT_KEY,
  Buffer.alloc(32, 0x00),
  Buffer.alloc(32, 0xff),
  Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
  ascii('0123456789abcdef0123456789abcdef'),
  ascii('abcdefghijklmnopqrstuvwxyz012345'),
  ascii('changeme'.repeat(4)),
  padTo32('your-encryption-key-here', '\0'),
  padTo32('your-encryption-key-here', ' '),
  padTo32('your-encryption-key-here', '0'),
  ascii('your-32-byte-encryption-key-here'),
  ascii('your-32-character-encryption-key'),
  createHash('sha256').update('').digest(),
].map(sha256);

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/**
 * Says whether 32 key bytes are weak. `known_default`: one of a short list of public keys (compared
 * by SHA-256 digest, in constant time). `low_entropy`: fewer than 12 distinct byte values, a pattern
 * repeating with a period of 8 bytes or less, a constant-step sequence (like 1, 2, 3 …), or only
 * printable ASCII (a password or a hex string used as key bytes). For 32 random bytes each of these
 * has a probability below 1e-13, so a genuine random key is never flagged.
 *
 * @example
 * assessKeyStrength(crypto.randomBytes(32)) // { weak: false }
 * assessKeyStrength(Buffer.alloc(32))       // { weak: true, reason: 'known_default' }
 * @throws ERR_INVALID_CONFIG when `bytes` is not 32 bytes.
 */
export function assessKeyStrength(bytes: Uint8Array): KeyStrength {
  if (!(bytes instanceof Uint8Array) || bytes.length !== ROOT_KEY_LENGTH) {
    throw new SecurityError('ERR_INVALID_CONFIG', 'a root key must be exactly 32 bytes', {
      details: { problems: ['root key is not 32 bytes'], variables: ['ENCRYPTION_KEY'] },
    });
  }
  if (isKnownDefault(bytes)) return { weak: true, reason: 'known_default' };
  if (isLowEntropy(bytes)) return { weak: true, reason: 'low_entropy' };
  return { weak: false };
}

function isKnownDefault(bytes: Uint8Array): boolean {
  const digest = sha256(bytes);
  let found = false;
  // Every entry is compared, without an early exit, so the time taken says nothing about the key.
  for (const known of KNOWN_DEFAULT_DIGESTS) found = timingSafeEqual(digest, known) || found;
  return found;
}

function isLowEntropy(bytes: Uint8Array): boolean {
  if (new Set(bytes).size < 12) return true;
  for (let period = 1; period <= 8; period++) {
    if (bytes.every((b, i) => i < period || b === bytes[i - period])) return true;
  }
  const step = (bytes[1]! - bytes[0]! + 256) % 256;
  if (bytes.every((b, i) => i === 0 || (b - bytes[i - 1]! + 256) % 256 === step)) return true;
  return bytes.every((b) => b >= 0x20 && b <= 0x7e);
}
