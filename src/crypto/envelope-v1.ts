import { SecurityError } from '../core/errors.js';
import type { ProviderName } from '../keys/key-provider.js';

/**
 * Envelope format version 1: the byte layout, its codec, and nothing else. Pure, no I/O.
 * Specified in docs/envelope-format.md; frozen vectors in test/fixtures/ keep it readable forever.
 *
 * | offset | size | field                                              |
 * |--------|------|----------------------------------------------------|
 * | 0      | 1    | format version = 0x01                              |
 * | 1      | 1    | algorithm suite = 0x01                             |
 * | 2      | 1    | provider: 0x01 local, 0x02 aws-kms                 |
 * | 3      | 4    | key version, uint32 big-endian, >= 1               |
 * | 7      | 2    | key id length K, uint16 big-endian, 1..2048        |
 * | 9      | K    | key id, UTF-8                                      |
 * | 9+K    | 2    | encrypted data key length W, uint16 BE, 1..4096    |
 * | 11+K   | W    | encrypted data key                                 |
 * | 11+K+W | 32   | key commitment                                     |
 * | 43+K+W | 12   | IV                                                 |
 * | 55+K+W | n    | ciphertext                                         |
 * | end-16 | 16   | GCM tag                                            |
 *
 * Everything before the ciphertext is the header; the header followed by the canonical encryption
 * context is the GCM additional authenticated data.
 */

export const FORMAT_V1 = 1;
/** AES-256-GCM; per-data-key encryption key and commitment derived with HKDF-SHA256. */
export const SUITE_AES256_GCM_HKDF_SHA256_COMMIT = 1;
export const ALGORITHM_NAME = 'AES-256-GCM-HKDF-SHA256-COMMIT' as const;

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const COMMITMENT_BYTES = 32;
export const MAX_KEY_ID_BYTES = 2048;
export const MAX_ENCRYPTED_DATA_KEY_BYTES = 4096;
const FIXED_HEADER_BYTES = 1 + 1 + 1 + 4 + 2 + 2 + COMMITMENT_BYTES + IV_BYTES;

const PROVIDER_IDS: Readonly<Record<ProviderName, number>> = { local: 1, 'aws-kms': 2 };
const PROVIDER_NAMES: Readonly<Record<number, ProviderName>> = { 1: 'local', 2: 'aws-kms' };

/**
 * An envelope as separate parts, which map onto columns (the spec's `authTag` and `keyVersion`
 * among them). Buffers may come back from a database as any `Uint8Array`.
 */
export interface Envelope {
  readonly formatVersion: 1;
  readonly algorithm: typeof ALGORITHM_NAME;
  readonly provider: ProviderName;
  readonly keyId: string;
  readonly keyVersion: number;
  readonly encryptedDataKey: Uint8Array;
  readonly commitment: Uint8Array;
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly authTag: Uint8Array;
}

/** The header fields that stay the same for every message under one data key. */
export interface HeaderPrefixFields {
  readonly provider: ProviderName;
  readonly keyId: string;
  readonly keyVersion: number;
  readonly encryptedDataKey: Uint8Array;
  readonly commitment: Uint8Array;
}

/**
 * The header up to and including the commitment. The encryptor computes it once per data key; the
 * IV follows it to complete the header.
 */
export function encodeHeaderPrefix(fields: HeaderPrefixFields): Buffer {
  const keyId = Buffer.from(fields.keyId, 'utf8');
  const edk = fields.encryptedDataKey;
  const out = Buffer.allocUnsafe(FIXED_HEADER_BYTES - IV_BYTES + keyId.length + edk.length);
  let o = 0;
  out[o++] = FORMAT_V1;
  out[o++] = SUITE_AES256_GCM_HKDF_SHA256_COMMIT;
  out[o++] = PROVIDER_IDS[fields.provider];
  out.writeUInt32BE(fields.keyVersion, o);
  o += 4;
  out.writeUInt16BE(keyId.length, o);
  o += 2;
  keyId.copy(out, o);
  o += keyId.length;
  out.writeUInt16BE(edk.length, o);
  o += 2;
  out.set(edk, o);
  o += edk.length;
  out.set(fields.commitment, o);
  return out;
}

/** The complete header of an envelope: the authenticated bytes that precede the ciphertext. */
export function encodeHeader(envelope: Envelope): Buffer {
  return Buffer.concat([encodeHeaderPrefix(envelope), envelope.iv]);
}

/** The whole envelope as one byte string: header, ciphertext, tag. */
export function encodeEnvelopeBytes(envelope: Envelope): Buffer {
  return Buffer.concat([encodeHeader(envelope), envelope.ciphertext, envelope.authTag]);
}

/**
 * Parses the binary form. Every length is checked against what remains before it is used, so a
 * truncated, extended or lying envelope is refused, never read past its end.
 *
 * @throws ERR_ENVELOPE_MALFORMED, ERR_UNSUPPORTED_FORMAT
 */
export function decodeEnvelopeBytes(bytes: Uint8Array): Envelope {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < FIXED_HEADER_BYTES + TAG_BYTES + 2) throw malformed('too short');
  if (buf[0] !== FORMAT_V1) throw unsupported();
  if (buf[1] !== SUITE_AES256_GCM_HKDF_SHA256_COMMIT) throw malformed('unknown algorithm suite');
  const provider = PROVIDER_NAMES[buf[2]!];
  if (provider === undefined) throw malformed('unknown provider');
  const keyVersion = buf.readUInt32BE(3);
  if (keyVersion === 0) throw malformed('key version 0');
  let o = 7;
  const keyIdLength = buf.readUInt16BE(o);
  o += 2;
  if (keyIdLength === 0 || keyIdLength > MAX_KEY_ID_BYTES) throw malformed('key id length out of range');
  if (o + keyIdLength + 2 > buf.length) throw malformed('truncated key id');
  const keyIdBytes = buf.subarray(o, o + keyIdLength);
  const keyId = keyIdBytes.toString('utf8');
  if (!Buffer.from(keyId, 'utf8').equals(keyIdBytes)) throw malformed('key id is not UTF-8');
  o += keyIdLength;
  const edkLength = buf.readUInt16BE(o);
  o += 2;
  if (edkLength === 0 || edkLength > MAX_ENCRYPTED_DATA_KEY_BYTES) throw malformed('data key length out of range');
  if (o + edkLength + COMMITMENT_BYTES + IV_BYTES + TAG_BYTES > buf.length) throw malformed('truncated header');
  const encryptedDataKey = buf.subarray(o, o + edkLength);
  o += edkLength;
  const commitment = buf.subarray(o, o + COMMITMENT_BYTES);
  o += COMMITMENT_BYTES;
  const iv = buf.subarray(o, o + IV_BYTES);
  o += IV_BYTES;
  const ciphertext = buf.subarray(o, buf.length - TAG_BYTES);
  const authTag = buf.subarray(buf.length - TAG_BYTES);
  return { formatVersion: FORMAT_V1, algorithm: ALGORITHM_NAME, provider, keyId, keyVersion, encryptedDataKey, commitment, iv, ciphertext, authTag };
}

/**
 * Checks an envelope given as parts (say, read back from columns): types, lengths, ranges.
 *
 * @throws ERR_ENVELOPE_MALFORMED, ERR_UNSUPPORTED_FORMAT
 */
export function validateEnvelopeParts(value: Record<string, unknown>): Envelope {
  if (value.formatVersion !== FORMAT_V1) throw unsupported();
  if (value.algorithm !== ALGORITHM_NAME) throw malformed('unknown algorithm');
  const provider = value.provider;
  if (provider !== 'local' && provider !== 'aws-kms') throw malformed('unknown provider');
  const { keyId, keyVersion } = value;
  if (typeof keyId !== 'string' || keyId.length === 0 || Buffer.byteLength(keyId, 'utf8') > MAX_KEY_ID_BYTES || !keyId.isWellFormed()) {
    throw malformed('key id');
  }
  if (typeof keyVersion !== 'number' || !Number.isInteger(keyVersion) || keyVersion < 1 || keyVersion > 0xffffffff) {
    throw malformed('key version');
  }
  const encryptedDataKey = bytesField(value.encryptedDataKey, 'encryptedDataKey', 1, MAX_ENCRYPTED_DATA_KEY_BYTES);
  const commitment = bytesField(value.commitment, 'commitment', COMMITMENT_BYTES, COMMITMENT_BYTES);
  const iv = bytesField(value.iv, 'iv', IV_BYTES, IV_BYTES);
  const ciphertext = bytesField(value.ciphertext, 'ciphertext', 0, Number.MAX_SAFE_INTEGER);
  const authTag = bytesField(value.authTag, 'authTag', TAG_BYTES, TAG_BYTES);
  return { formatVersion: FORMAT_V1, algorithm: ALGORITHM_NAME, provider, keyId, keyVersion, encryptedDataKey, commitment, iv, ciphertext, authTag };
}

function bytesField(value: unknown, name: string, min: number, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${name} is not bytes`);
  if (value.length < min || value.length > max) throw malformed(`${name} has the wrong length`);
  return value;
}

function malformed(reason: string): SecurityError {
  return new SecurityError('ERR_ENVELOPE_MALFORMED', 'malformed envelope', { details: { reason } });
}

function unsupported(): SecurityError {
  return new SecurityError('ERR_UNSUPPORTED_FORMAT', 'unsupported envelope format version');
}
