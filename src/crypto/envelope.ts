import { SecurityError } from '../core/errors.js';
import {
  FORMAT_V1,
  decodeEnvelopeBytes,
  encodeEnvelopeBytes,
  validateEnvelopeParts,
  type Envelope,
} from './envelope-v1.js';

export type { Envelope } from './envelope-v1.js';

/**
 * The compact string form: `afe<format>.v<keyVersion>.<base64url of the binary envelope>`.
 * The visible prefix lets SQL find rows that still need a rewrap
 * (`WHERE secret NOT LIKE 'afe1.v7.%'`); it is checked against the authenticated header on parse.
 */
const COMPACT_PATTERN = /^afe([1-9]\d{0,2})\.v([1-9]\d{0,9})\.([A-Za-z0-9_-]+)$/;
const COMPACT_PREFIX = /^afe([1-9]\d{0,2})\.v([1-9]\d{0,9})\./;

/** The envelope in its compact string form. */
export function serializeEnvelope(envelope: Envelope): string {
  return `afe${envelope.formatVersion}.v${envelope.keyVersion}.${encodeEnvelopeBytes(envelope).toString('base64url')}`;
}

/** The envelope as one byte string (for a single binary column). */
export function envelopeToBytes(envelope: Envelope): Buffer {
  return encodeEnvelopeBytes(envelope);
}

/**
 * Reads an envelope given in any of its three forms: the compact string, the binary form, or the
 * parts object. `maxBytes` bounds the binary size before anything is decoded.
 *
 * @throws ERR_ENVELOPE_MALFORMED, ERR_ENVELOPE_TOO_LARGE, ERR_UNSUPPORTED_FORMAT
 */
export function parseEnvelope(input: unknown, maxBytes: number): Envelope {
  if (typeof input === 'string') return parseCompact(input, maxBytes);
  if (input instanceof Uint8Array) {
    if (input.length > maxBytes) throw tooLarge();
    return decodeBytes(input);
  }
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const envelope = validateEnvelopeParts(input as Record<string, unknown>);
    if (envelope.ciphertext.length > maxBytes) throw tooLarge();
    return envelope;
  }
  throw new SecurityError('ERR_ENVELOPE_MALFORMED', 'malformed envelope', { details: { reason: 'not an envelope' } });
}

/**
 * The key version a compact envelope names, read from its prefix without decoding it; `undefined`
 * when the string is not a compact envelope. For choosing rows to rewrap, not for trusting.
 */
export function compactEnvelopeKeyVersion(text: string): number | undefined {
  const match = COMPACT_PREFIX.exec(text);
  return match === null ? undefined : Number(match[2]);
}

function parseCompact(text: string, maxBytes: number): Envelope {
  // base64 grows 4/3; refuse before decoding anything huge.
  if (text.length > Math.ceil((maxBytes * 4) / 3) + 32) throw tooLarge();
  const match = COMPACT_PATTERN.exec(text);
  if (match === null) {
    if (/^afe\d{1,3}\./.test(text) && !text.startsWith(`afe${FORMAT_V1}.`)) throw unsupported();
    throw new SecurityError('ERR_ENVELOPE_MALFORMED', 'malformed envelope', { details: { reason: 'not a compact envelope' } });
  }
  const format = Number(match[1]);
  if (format !== FORMAT_V1) throw unsupported();
  const body = match[3]!;
  const bytes = Buffer.from(body, 'base64url');
  // Node's decoder skips what it cannot read; insist the text is exactly the encoding of the bytes.
  if (bytes.toString('base64url') !== body) {
    throw new SecurityError('ERR_ENVELOPE_MALFORMED', 'malformed envelope', { details: { reason: 'not canonical base64url' } });
  }
  const envelope = decodeBytes(bytes);
  if (envelope.keyVersion !== Number(match[2]) || envelope.formatVersion !== format) {
    throw new SecurityError('ERR_ENVELOPE_MALFORMED', 'malformed envelope', { details: { reason: 'prefix disagrees with header' } });
  }
  return envelope;
}

function decodeBytes(bytes: Uint8Array): Envelope {
  if (bytes.length > 0 && bytes[0] !== FORMAT_V1) throw unsupported();
  return decodeEnvelopeBytes(bytes);
}

function tooLarge(): SecurityError {
  return new SecurityError('ERR_ENVELOPE_TOO_LARGE', 'envelope exceeds the configured size limit');
}

function unsupported(): SecurityError {
  return new SecurityError('ERR_UNSUPPORTED_FORMAT', 'unsupported envelope format version');
}
