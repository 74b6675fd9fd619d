import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_KEY_PREFIX,
  ISSUED_BODY_CHARS,
  displayPrefix,
  generateIssuedKey,
  hasValidChecksum,
  isAcceptableHostValue,
  issuedKeyLength,
  parseIssuedKey,
} from '../../src/api-keys/key-format.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

describe('issued key format', () => {
  it('is <prefix>_<43 base62 random chars><6 base62 checksum chars>', () => {
    for (const prefix of ['afk', 'ab', 'abcdefgh']) {
      const key = generateIssuedKey(prefix);
      expect(key).toMatch(new RegExp(`^${prefix}_[0-9A-Za-z]{49}$`));
      expect(key).toHaveLength(issuedKeyLength(prefix));
      const parts = parseIssuedKey(key, prefix)!;
      expect(parts.body).toHaveLength(ISSUED_BODY_CHARS);
      expect(parts.checksum).toHaveLength(6);
      expect(`${parts.prefix}_${parts.body}${parts.checksum}`).toBe(key);
    }
  });

  it('carries at least 192 bits of randomness: 43 base62 characters encode all 256 random bits', () => {
    // 62^43 > 2^256, so the encoding of 32 random bytes is injective; 43 × log2(62) ≈ 256.03.
    expect(ISSUED_BODY_CHARS * Math.log2(62)).toBeGreaterThanOrEqual(256);
    const bodies = Array.from({ length: 2000 }, () => parseIssuedKey(generateIssuedKey())!.body);
    expect(new Set(bodies).size).toBe(bodies.length);
    // Every position varies (the first digit only up to 2^256 / 62^42, which is still about 60 values).
    for (let i = 0; i < ISSUED_BODY_CHARS; i++) expect(new Set(bodies.map((b) => b[i])).size).toBeGreaterThan(40);
    // Character frequencies over positions 1..42 are close to uniform.
    const counts = new Map<string, number>();
    for (const b of bodies) for (const c of b.slice(1)) counts.set(c, (counts.get(c) ?? 0) + 1);
    const expected = (bodies.length * (ISSUED_BODY_CHARS - 1)) / 62;
    for (const c of BASE62) expect(Math.abs((counts.get(c) ?? 0) - expected) / expected).toBeLessThan(0.15);
  });

  it('a checksum refuses every single-character change, truncation and extension', () => {
    const key = generateIssuedKey();
    fc.assert(
      fc.property(fc.nat(key.length - 1), fc.constantFrom(...BASE62.split('')), (at, c) => {
        fc.pre(key[at] !== c && at >= DEFAULT_KEY_PREFIX.length + 1);
        const mutated = key.slice(0, at) + c + key.slice(at + 1);
        return parseIssuedKey(mutated) === null;
      }),
      { numRuns: 2000 },
    );
    for (let n = 0; n < key.length; n++) expect(parseIssuedKey(key.slice(0, n))).toBeNull();
    expect(parseIssuedKey(`${key}0`)).toBeNull();
    expect(parseIssuedKey(key.replace('afk_', 'afz_'))).toBeNull();
  });

  it('refuses anything that is not a string, or a key of another prefix', () => {
    for (const bad of [undefined, null, 42, {}, [], Buffer.from(generateIssuedKey())]) expect(parseIssuedKey(bad)).toBeNull();
    expect(parseIssuedKey(generateIssuedKey('xyz'))).toBeNull();
    expect(parseIssuedKey(generateIssuedKey('xyz'), 'xyz')).not.toBeNull();
  });

  it('hasValidChecksum agrees with parseIssuedKey on random strings after the prefix', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (tail) => {
        const s = `afk_${tail}`;
        return hasValidChecksum(s, 3) === (parseIssuedKey(s) !== null);
      }),
    );
  });
});

describe('host values and display prefixes', () => {
  it('accepts printable ASCII without spaces, 16 to 4096 characters, and nothing else', () => {
    expect(isAcceptableHostValue('sk_live_0123456789abcdef')).toBe(true);
    expect(isAcceptableHostValue('x'.repeat(16))).toBe(true);
    expect(isAcceptableHostValue('x'.repeat(4096))).toBe(true);
    for (const bad of ['', 'x'.repeat(15), 'x'.repeat(4097), 'has a space in it!!', 'tab\there-is-16chars', 'ünïcödé-value-long', 42, null]) {
      expect(isAcceptableHostValue(bad)).toBe(false);
    }
  });

  it('shows the prefix and 8 random characters of an issued key, at most a quarter (≤ 8) of a host value', () => {
    const key = generateIssuedKey();
    expect(displayPrefix(key, 'afk')).toBe(key.slice(0, 12));
    expect(displayPrefix('0123456789abcdef', 'afk')).toBe('0123');
    expect(displayPrefix('0123456789abcdef0123', 'afk')).toBe('01234');
    expect(displayPrefix('sk_live_0123456789abcdefghijklmnop', 'afk')).toBe('sk_live_');
  });
});
