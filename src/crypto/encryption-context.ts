import { SecurityError } from '../core/errors.js';

/**
 * A small string map bound to a ciphertext as authenticated data (and, for KMS, sent as the KMS
 * `EncryptionContext`). Decrypting needs the same map: a ciphertext moved to another row or field,
 * whose context differs, does not decrypt.
 */
export type EncryptionContext = Readonly<Record<string, string>>;

/** At most this many entries: KMS itself bounds the context, and a context is a label, not data. */
export const MAX_CONTEXT_ENTRIES = 32;
/** At most this many UTF-8 bytes over all keys and values (KMS's own limit on a context is 8192 bytes). */
export const MAX_CONTEXT_BYTES = 4096;
/** Keys under this prefix are the library's own; a caller may not set them. */
export const RESERVED_CONTEXT_PREFIX = 'af:';

const EMPTY = Buffer.alloc(2);

/**
 * Checks a caller's context and returns its canonical bytes: entries sorted by key (UTF-16 code
 * unit order, which is stable), each as a 2-byte big-endian length and UTF-8 bytes, after a 2-byte
 * count. Two maps with the same entries give the same bytes whatever their insertion order.
 *
 * @throws ERR_INVALID_CONTEXT for a non-object, a non-string value, an empty or reserved key,
 *   lone surrogates, or a context over the size limits. The message names the rule, never a value.
 */
export function canonicalizeContext(context: unknown): Buffer {
  if (context === undefined) return EMPTY;
  if (typeof context !== 'object' || context === null) throw invalid('the encryption context must be a plain object of strings');
  // A Map or class instance has no own enumerable entries: it would read as the empty context and
  // bind nothing while the caller believes it binds a row.
  const prototype = Object.getPrototypeOf(context);
  if (prototype !== Object.prototype && prototype !== null) throw invalid('the encryption context must be a plain object of strings');
  const keys = Object.keys(context);
  if (keys.length === 0) return EMPTY;
  if (keys.length > MAX_CONTEXT_ENTRIES) throw invalid(`the encryption context has more than ${MAX_CONTEXT_ENTRIES} entries`);
  if (keys.length > 1) keys.sort();
  const record = context as Record<string, unknown>;
  // One pass into a scratch buffer sized for the worst case (3 UTF-8 bytes per UTF-16 unit), then
  // one copy out: cheaper than measuring every string first, and this runs on every call.
  let offset = 2;
  let chars = 0;
  for (const key of keys) {
    const value = record[key];
    if (typeof value !== 'string') throw invalid('every encryption context value must be a string');
    if (key.length === 0) throw invalid('an encryption context key may not be empty');
    if (key.startsWith(RESERVED_CONTEXT_PREFIX)) {
      throw invalid(`encryption context keys starting with "${RESERVED_CONTEXT_PREFIX}" are reserved`);
    }
    // Every UTF-16 unit is at least one UTF-8 byte, so this bounds the bytes from below.
    chars += key.length + value.length;
    if (chars > MAX_CONTEXT_BYTES) throw tooLarge();
    offset = writeString(key, offset);
    offset = writeString(value, offset);
  }
  if (offset - 2 - 4 * keys.length > MAX_CONTEXT_BYTES) throw tooLarge();
  SCRATCH.writeUInt16BE(keys.length, 0);
  const out = Buffer.allocUnsafe(offset);
  SCRATCH.copy(out, 0, 0, offset);
  return out;
}

const SCRATCH = Buffer.allocUnsafe(2 + 4 * MAX_CONTEXT_ENTRIES + 3 * MAX_CONTEXT_BYTES);

/** Writes a 2-byte length and the UTF-8 bytes; the short ASCII strings of a context skip the C++ call. */
function writeString(text: string, offset: number): number {
  const start = offset + 2;
  const n = text.length;
  if (n <= 64) {
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      SCRATCH[start + i] = c;
    }
    if (i === n) {
      SCRATCH.writeUInt16BE(n, offset);
      return start + n;
    }
  }
  // Lone surrogates would be written as U+FFFD and two contexts would collide: refuse them.
  if (!text.isWellFormed()) throw invalid('the encryption context holds malformed Unicode');
  const length = SCRATCH.write(text, start, 'utf8');
  SCRATCH.writeUInt16BE(length, offset);
  return start + length;
}

function tooLarge(): SecurityError {
  return invalid(`the encryption context is larger than ${MAX_CONTEXT_BYTES} bytes`);
}

/** A copy of the context with sorted keys, for providers (KMS `EncryptionContext`). */
export function contextRecord(context: EncryptionContext | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (context === undefined) return out;
  for (const key of Object.keys(context).sort()) out[key] = context[key]!;
  return out;
}

function invalid(message: string): SecurityError {
  return new SecurityError('ERR_INVALID_CONTEXT', message);
}
