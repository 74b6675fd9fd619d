import { randomBytes } from 'node:crypto';

/**
 * The format of keys the library issues, and the shape rules for every value it stores. Pure, no I/O.
 *
 * An issued key is `<prefix>_<body><checksum>`:
 * - `prefix`: 2 to 8 lower-case letters (`afk` by default), so a leaked key is recognisable by
 *   secret scanners and in logs;
 * - `body`: 32 random bytes (256 bits) as exactly 43 base62 characters (62^43 > 2^256);
 * - `checksum`: the CRC32 of everything before it (`<prefix>_<body>`) as exactly 6 base62 characters
 *   (62^6 > 2^32), so a mistyped, truncated or invented key is refused before any lookup.
 * The checksum is not a secret and not a MAC: it catches accidents, the keyed lookup hash does the rest.
 */

/** The default recognisable prefix of issued keys. */
export const DEFAULT_KEY_PREFIX = 'afk';
/** Random bytes in an issued key: 256 bits, above the 192 the library promises. */
export const ISSUED_RANDOM_BYTES = 32;
/** Base62 characters that encode the random bytes. */
export const ISSUED_BODY_CHARS = 43;
/** Base62 characters of the CRC32 checksum. */
export const ISSUED_CHECKSUM_CHARS = 6;
/** Random characters shown in an issued key's display prefix: 8 × log2(62) ≈ 47.6 bits, leaving 208 secret. */
export const ISSUED_DISPLAY_CHARS = 8;
/** Shortest and longest value accepted from a host (`addApiKey`) and presented to `verifyApiKey`. */
export const MIN_VALUE_CHARS = 16;
export const MAX_VALUE_CHARS = 4096;
/** Printable ASCII without space, 16 to 4096 characters: the rule for host-supplied values. */
export const HOST_VALUE_PATTERN = /^[\x21-\x7e]{16,4096}$/;
/** The rule for a key prefix option. */
export const KEY_PREFIX_PATTERN = /^[a-z]{2,8}$/;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Base62 digit value by char code, -1 for anything else. */
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;

// The IEEE 802.3 CRC32 table (the zlib polynomial), built once. Written out rather than taken from
// zlib.crc32, which Node 20 gained only in 20.15.
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** The parts of a well-formed issued key. */
export interface IssuedKeyParts {
  readonly prefix: string;
  /** The 43 base62 characters of the random part. */
  readonly body: string;
  /** The 6 base62 characters of the checksum. */
  readonly checksum: string;
}

/**
 * Total length of an issued key with this prefix.
 *
 * @example
 * issuedKeyLength('afk') // 53
 *
 * @throws nothing
 */
export function issuedKeyLength(prefix: string): number {
  return prefix.length + 1 + ISSUED_BODY_CHARS + ISSUED_CHECKSUM_CHARS;
}

/**
 * Generates a new key: 32 bytes from the CSPRNG, base62, with its checksum.
 *
 * @example
 * generateIssuedKey('afk') // 'afk_1x9Qk…' (53 characters)
 *
 * @throws nothing (the prefix is validated by the service's options)
 */
export function generateIssuedKey(prefix: string = DEFAULT_KEY_PREFIX): string {
  const random = randomBytes(ISSUED_RANDOM_BYTES);
  const head = `${prefix}_${encodeBase62(random, ISSUED_BODY_CHARS)}`;
  random.fill(0);
  return head + encodeBase62Number(crc32(head, 0, head.length), ISSUED_CHECKSUM_CHARS);
}

/**
 * Checks an issued key's shape (prefix, length, alphabet) and checksum, with no database access.
 * Returns null for anything else, including a non-string.
 *
 * @example
 * parseIssuedKey(key)?.body // the 43 random characters, or undefined when the key is malformed
 *
 * @throws nothing
 */
export function parseIssuedKey(key: unknown, prefix: string = DEFAULT_KEY_PREFIX): IssuedKeyParts | null {
  if (typeof key !== 'string' || !key.startsWith(`${prefix}_`) || !hasValidChecksum(key, prefix.length)) return null;
  const bodyStart = prefix.length + 1;
  return {
    prefix,
    body: key.slice(bodyStart, bodyStart + ISSUED_BODY_CHARS),
    checksum: key.slice(bodyStart + ISSUED_BODY_CHARS),
  };
}

/**
 * The request-path check, allocation-free: for a string already known to start with `<prefix>_`,
 * true when its length, alphabet and checksum are right.
 *
 * @example
 * if (presented.startsWith('afk_') && !hasValidChecksum(presented, 3)) return 'malformed'
 *
 * @throws nothing
 */
export function hasValidChecksum(key: string, prefixLength: number): boolean {
  const bodyStart = prefixLength + 1;
  const checksumStart = bodyStart + ISSUED_BODY_CHARS;
  if (key.length !== checksumStart + ISSUED_CHECKSUM_CHARS) return false;
  let crc = crcUpdate(-1, key, 0, bodyStart);
  // One pass over the body: alphabet check and CRC together (this runs on every verify).
  for (let i = bodyStart; i < checksumStart; i++) {
    const c = key.charCodeAt(i);
    if (c >= 128 || DIGIT[c] === -1) return false;
    crc = CRC_TABLE[(crc ^ c) & 0xff]! ^ (crc >>> 8);
  }
  let stated = 0;
  for (let i = checksumStart; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const d = c < 128 ? DIGIT[c]! : -1;
    if (d === -1) return false;
    stated = stated * 62 + d;
  }
  return stated === (crc ^ -1) >>> 0;
}

/**
 * True for a value a host may store with `addApiKey`: printable ASCII without spaces, 16 to 4096
 * characters. Shorter or wider values make the lookup hash guessable or the column ambiguous.
 *
 * @example
 * isAcceptableHostValue('sk_live_51Hx…') // true
 *
 * @throws nothing
 */
export function isAcceptableHostValue(value: unknown): value is string {
  return typeof value === 'string' && HOST_VALUE_PATTERN.test(value);
}

/**
 * The part of a value that is safe to store in clear and show (`key_prefix`). Issued keys show
 * the prefix and 8 random characters (47.6 of 256 bits). Host values show at most 8 characters and
 * never more than a quarter of the value, so a 16-character value keeps 12 characters secret.
 *
 * @example
 * displayPrefix('afk_3xT9qLm2…', 'afk') // 'afk_3xT9qLm2'
 * displayPrefix('0123456789abcdef', 'afk') // '0123'
 *
 * @throws nothing
 */
export function displayPrefix(value: string, prefix: string): string {
  if (parseIssuedKey(value, prefix) !== null) return value.slice(0, prefix.length + 1 + ISSUED_DISPLAY_CHARS);
  return value.slice(0, Math.min(8, Math.floor(value.length / 4)));
}

/** CRC32 (IEEE) of the char codes `text[start..end)`, which are ASCII here; unsigned. */
function crc32(text: string, start: number, end: number): number {
  return (crcUpdate(-1, text, start, end) ^ -1) >>> 0;
}

/** Feeds `text[start..end)` into a running CRC32 register (before the final inversion). */
function crcUpdate(register: number, text: string, start: number, end: number): number {
  let crc = register;
  for (let i = start; i < end; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return crc;
}

/** Big-endian bytes as exactly `length` base62 digits (left-padded with '0'). */
function encodeBase62(bytes: Uint8Array, length: number): string {
  let n = BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`);
  let out = '';
  for (let i = 0; i < length; i++) {
    out = ALPHABET[Number(n % 62n)]! + out;
    n /= 62n;
  }
  return out;
}

function encodeBase62Number(value: number, length: number): string {
  let n = value;
  let out = '';
  for (let i = 0; i < length; i++) {
    out = ALPHABET[n % 62]! + out;
    n = Math.floor(n / 62);
  }
  return out;
}
