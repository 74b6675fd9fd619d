import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, it, expect } from 'vitest';
import {
  DEVELOPMENT_ENCRYPTION_KEY_BYTES,
  RootKey,
  assessKeyStrength,
  developmentRootKey,
  parseEncryptionKey,
} from '../../src/config/encryption-key.js';
import { isSecurityError } from '../../src/core/errors.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function expectNoEcho(error: unknown, value: string): void {
  if (!isSecurityError(error)) throw new Error('expected a SecurityError');
  expect(error.message).not.toContain(value);
  expect(JSON.stringify(error.details)).not.toContain(value);
}

const key = randomBytes(32);

describe('parseEncryptionKey', () => {
  it.each([
    ['lower-case hex', key.toString('hex')],
    ['upper-case hex', key.toString('hex').toUpperCase()],
    ['padded base64', key.toString('base64')],
    ['unpadded base64', key.toString('base64').replace(/=+$/, '')],
    ['base64url', key.toString('base64url')],
    ['base64 with a trailing newline from a secrets file', `${key.toString('base64')}\n`],
  ])('accepts %s that decodes to 32 bytes', (_, text) => {
    expect(parseEncryptionKey(text).equals(key)).toBe(true);
  });

  it('accepts every 32-byte key in each of its encodings (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const b = Buffer.from(bytes);
        for (const text of [b.toString('hex'), b.toString('base64'), b.toString('base64url'), b.toString('base64').replace(/=+$/, '')]) {
          expect(parseEncryptionKey(text).equals(b)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  const lastCharFlipped = (() => {
    // 44-character base64 of 32 bytes: the character before '=' carries 2 unused bits; setting one
    // gives a text Node still decodes to the same bytes, but that is not the key's canonical spelling.
    const text = Buffer.alloc(32, 0x5a).toString('base64');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const i = alphabet.indexOf(text[42]!);
    return `${text.slice(0, 42)}${alphabet[i + 1]}=`;
  })();

  it.each([
    ['63 hex characters', key.toString('hex').slice(0, 63)],
    ['65 hex characters', `${key.toString('hex')}a`],
    ['base64 of 31 bytes', randomBytes(31).toString('base64')],
    ['base64 of 33 bytes', randomBytes(33).toString('base64')],
    ['a 32-character passphrase', 'correct-horse-battery-staple-9QX'],
    ['non-canonical base64 (stray bits in the last character)', lastCharFlipped],
    ['base64 mixing both alphabets', `-${'A'.repeat(40)}+A`],
    ['base64 with too much padding', `${key.toString('base64').replace(/=+$/, '')}===`],
    ['a 0x-prefixed hex key', `0x${key.toString('hex')}`],
    ['an empty string', ''],
  ])('refuses %s with ERR_INVALID_CONFIG naming ENCRYPTION_KEY, without the value', (_, text) => {
    const error = thrown(() => parseEncryptionKey(text));
    expect(error).toMatchObject({ code: 'ERR_INVALID_CONFIG', details: { variables: ['ENCRYPTION_KEY'] } });
    expect((error as Error).message).toContain('ENCRYPTION_KEY');
    expect((error as Error).message).toContain('32 bytes');
    if (text !== '') expectNoEcho(error, text);
  });

  it('names the variable it is given', () => {
    expect(thrown(() => parseEncryptionKey('nope-QX7', 'PREVIOUS_ENCRYPTION_KEY'))).toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      details: { variables: ['PREVIOUS_ENCRYPTION_KEY'] },
    });
  });
});

describe('RootKey', () => {
  it('fingerprint is 8 bytes of HKDF-SHA256(key, fingerprint label), in hex', () => {
    const expected = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'agentflow-security/root/fingerprint/v1', 8)).toString('hex');
    expect(RootKey.fromBytes(key).fingerprint).toBe(expected);
  });

  it('derives independent keys per purpose and never hands out the root for two algorithms', () => {
    const root = RootKey.fromBytes(key);
    const wrap = root.deriveKey('agentflow-security/root/key-version-wrap/v1');
    const other = root.deriveKey('another purpose');
    expect(wrap.length).toBe(32);
    expect(wrap.equals(other)).toBe(false);
    expect(wrap.equals(key)).toBe(false);
    expect(wrap.toString('hex').startsWith(root.fingerprint)).toBe(false);
  });

  it('copies the bytes in and out: neither the input nor a returned copy reaches the key', () => {
    const input = Buffer.from(key);
    const root = RootKey.fromBytes(input);
    input.fill(0);
    const copy = root.bytes();
    expect(copy.equals(key)).toBe(true);
    copy.fill(0);
    expect(root.bytes().equals(key)).toBe(true);
  });

  it('never shows the key when printed, serialised or inspected', () => {
    const root = RootKey.fromBytes(key);
    const redacted = `[redacted root key ${root.fingerprint}]`;
    expect(root.toJSON()).toBe(redacted);
    expect(String(root)).toBe(redacted);
    expect(inspect(root)).toBe(redacted);
    const outputs = [JSON.stringify({ root }), inspect({ nested: { root } }, { depth: 10, showHidden: true }), `${root}`];
    for (const out of outputs) {
      for (const encoded of [key.toString('hex'), key.toString('base64'), key.toString('base64url')]) {
        expect(out).not.toContain(encoded);
      }
    }
    expect(Object.keys(root)).toEqual(['fingerprint']);
  });

  it('is frozen', () => {
    const root = RootKey.fromBytes(key);
    expect(Object.isFrozen(root)).toBe(true);
    expect(() => {
      (root as { fingerprint: string }).fingerprint = 'x';
    }).toThrow(TypeError);
  });

  it.each([0, 16, 31, 33, 64])('fromBytes refuses %i bytes with ERR_INVALID_CONFIG', (length) => {
    expect(thrown(() => RootKey.fromBytes(Buffer.alloc(length, 7)))).toMatchObject({ code: 'ERR_INVALID_CONFIG' });
  });
});

describe('assessKeyStrength', () => {
  it('the development key is SHA-256 of its documented phrase and is a known default', () => {
    const expected = createHash('sha256').update('agentflow-security development key - never use in production').digest();
    expect(DEVELOPMENT_ENCRYPTION_KEY_BYTES.equals(expected)).toBe(true);
    expect(assessKeyStrength(DEVELOPMENT_ENCRYPTION_KEY_BYTES)).toEqual({ weak: true, reason: 'known_default' });
  });

  it('changing the exported development key bytes changes nothing inside the library', () => {
    const before = developmentRootKey().fingerprint;
    const saved = Buffer.from(DEVELOPMENT_ENCRYPTION_KEY_BYTES);
    DEVELOPMENT_ENCRYPTION_KEY_BYTES.fill(1);
    try {
      expect(developmentRootKey().fingerprint).toBe(before);
      expect(assessKeyStrength(saved)).toEqual({ weak: true, reason: 'known_default' });
    } finally {
      saved.copy(DEVELOPMENT_ENCRYPTION_KEY_BYTES);
    }
  });

  const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
  it.each([
    ['all zero', Buffer.alloc(32, 0)],
    ['all 0xff', Buffer.alloc(32, 0xff)],
    ['bytes 0..31', Buffer.from(Array.from({ length: 32 }, (_, i) => i))],
    ['ASCII 0123456789abcdef twice', ascii('0123456789abcdef0123456789abcdef')],
    ['ASCII a..z then 012345', ascii('abcdefghijklmnopqrstuvwxyz012345')],
    ["'changeme' four times", ascii('changeme'.repeat(4))],
    ["'your-encryption-key-here' padded with NUL", ascii('your-encryption-key-here'.padEnd(32, '\0'))],
    ["'your-encryption-key-here' padded with spaces", ascii('your-encryption-key-here'.padEnd(32, ' '))],
    ["'your-32-byte-encryption-key-here'", ascii('your-32-byte-encryption-key-here')],
    ['SHA-256 of the empty string', createHash('sha256').update('').digest()],
  ])('reports %s as known_default', (_, bytes) => {
    expect(assessKeyStrength(bytes)).toEqual({ weak: true, reason: 'known_default' });
  });

  const random = (n: number): Buffer => randomBytes(n);
  it.each([
    ['a 4-byte pattern repeated', Buffer.concat(Array.from({ length: 8 }, () => Buffer.from([0x9c, 0x01, 0xf3, 0x42])))],
    ['an 8-byte random pattern repeated', (() => { const p = random(8); return Buffer.concat([p, p, p, p]); })()],
    ['only 11 distinct byte values', Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + ((i * 7) % 11)))],
    ['a constant-step sequence 1, 2, 3 …', Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1))],
    ['a descending sequence with wrap-around', Buffer.from(Array.from({ length: 32 }, (_, i) => (10 - 3 * i + 256) % 256))],
    ['a printable ASCII passphrase', ascii('Tr0ub4dor&3-correct-horse-staple')],
    ['a 32-character hex string used as bytes', ascii(random(16).toString('hex'))],
  ])('reports %s as low_entropy', (_, bytes) => {
    expect(bytes.length).toBe(32);
    expect(assessKeyStrength(bytes)).toEqual({ weak: true, reason: 'low_entropy' });
  });

  it('never flags 10,000 genuinely random keys', () => {
    let flagged = 0;
    for (let i = 0; i < 10_000; i++) if (assessKeyStrength(randomBytes(32)).weak) flagged++;
    expect(flagged).toBe(0);
  });

  it('refuses a key that is not 32 bytes with ERR_INVALID_CONFIG', () => {
    expect(thrown(() => assessKeyStrength(randomBytes(16)))).toMatchObject({ code: 'ERR_INVALID_CONFIG' });
  });
});
