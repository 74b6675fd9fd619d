import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createEncryptor } from '../../src/crypto/encryptor.js';
import { envelopeToBytes, serializeEnvelope } from '../../src/crypto/envelope.js';
import { isSecurityError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { localProvider } from '../helpers/providers.js';

const ctx = { row: '7' };
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Decrypting must reject with a typed error: never return plaintext, never throw anything else. */
async function rejectedWithCode(decrypt: () => Promise<unknown>): Promise<boolean> {
  try {
    await decrypt();
    return false;
  } catch (error) {
    return isSecurityError(error) && /^ERR_[A-Z_]+$/.test(error.code);
  }
}

describe('mutated envelopes (property)', async () => {
  const provider = await localProvider();
  const encryptor = createEncryptor({ keyProvider: provider, logger: silentLogger });
  const envelope = await encryptor.encrypt('property-test plaintext with some length to it', ctx);
  const compact = serializeEnvelope(envelope);
  const binary = envelopeToBytes(envelope);

  it('the unmodified forms decrypt (the control)', async () => {
    expect(await encryptor.decryptToString(compact, ctx)).toBe('property-test plaintext with some length to it');
    expect(await encryptor.decryptToString(binary, ctx)).toBe('property-test plaintext with some length to it');
  });

  it('every bit flip of the binary form is rejected with a code', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: binary.length * 8 - 1 }), async (bit) => {
        const mutated = Buffer.from(binary);
        mutated[bit >> 3]! ^= 1 << (bit & 7);
        return rejectedWithCode(() => encryptor.decrypt(mutated, ctx));
      }),
      { numRuns: 1500 },
    );
  });

  it('every truncation and extension of the binary form is rejected with a code', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: 0, max: binary.length - 1 }).map((n) => binary.subarray(0, n)),
          fc.integer({ min: 1, max: binary.length - 1 }).map((n) => binary.subarray(n)),
          fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra) => Buffer.concat([binary, extra])),
          fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra) => Buffer.concat([extra, binary])),
        ),
        async (mutated) => rejectedWithCode(() => encryptor.decrypt(mutated, ctx)),
      ),
      { numRuns: 1000 },
    );
  });

  it('every changed, cut or added character of the compact form is rejected with a code', async () => {
    const char = fc.constantFrom(...`${BASE64URL}.=+/ é\u0000`.split(''));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(fc.integer({ min: 0, max: compact.length - 1 }), char)
            .filter(([i, c]) => compact[i] !== c)
            .map(([i, c]) => compact.slice(0, i) + c + compact.slice(i + 1)),
          fc.integer({ min: 0, max: compact.length - 1 }).map((n) => compact.slice(0, n)),
          fc.tuple(fc.integer({ min: 0, max: compact.length }), fc.string({ minLength: 1, maxLength: 8, unit: char })).map(
            ([i, s]) => compact.slice(0, i) + s + compact.slice(i),
          ),
        ),
        async (mutated) => rejectedWithCode(() => encryptor.decrypt(mutated, ctx)),
      ),
      { numRuns: 1500 },
    );
  });

  it('random bytes and random strings are rejected with a code', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.string({ maxLength: 512 }), fc.string({ maxLength: 200 }).map((s) => `afe1.v1.${s}`)),
        async (input) => rejectedWithCode(() => encryptor.decrypt(input as never, ctx)),
      ),
      { numRuns: 1000 },
    );
  });

  it('any change to a part of the structured form is rejected with a code', async () => {
    const parts = ['encryptedDataKey', 'commitment', 'iv', 'ciphertext', 'authTag'] as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...parts), fc.nat(), fc.integer({ min: 1, max: 255 }), async (part, at, xor) => {
        const value = Buffer.from(envelope[part]);
        if (value.length === 0) return true;
        value[at % value.length]! ^= xor;
        return rejectedWithCode(() => encryptor.decrypt({ ...envelope, [part]: value }, ctx));
      }),
      { numRuns: 1000 },
    );
  });
});
