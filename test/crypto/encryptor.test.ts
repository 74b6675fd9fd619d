import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createEncryptor } from '../../src/crypto/encryptor.js';
import { parseEnvelope, serializeEnvelope, envelopeToBytes, compactEnvelopeKeyVersion } from '../../src/crypto/envelope.js';
import type { Envelope } from '../../src/crypto/envelope.js';
import { createMemoryKeyringStore } from '../../src/keys/keyring.js';
import { silentLogger } from '../../src/core/logger.js';
import { countingProvider, localProvider, manualClock } from '../helpers/providers.js';

const ctx = { table: 'api_keys', column: 'value', row: '42' };

async function setup(options: Parameters<typeof createEncryptor>[0] extends infer O ? Partial<O> : never = {}) {
  const inner = await localProvider();
  const { provider, calls } = countingProvider(inner);
  const encryptor = createEncryptor({ keyProvider: provider, logger: silentLogger, ...options });
  return { inner, provider, calls, encryptor };
}

describe('encrypt and decrypt', () => {
  it('round-trips strings, bytes and the empty plaintext', async () => {
    const { encryptor } = await setup();
    expect(await encryptor.decryptToString(await encryptor.encrypt('hello wörld ✓', ctx), ctx)).toBe('hello wörld ✓');
    const bytes = randomBytes(1000);
    expect(Buffer.compare(await encryptor.decrypt(await encryptor.encrypt(bytes)), bytes)).toBe(0);
    expect((await encryptor.decrypt(await encryptor.encrypt(''))).length).toBe(0);
  });

  it('reads every form of the same envelope: parts, compact string, binary', async () => {
    const { encryptor } = await setup();
    const envelope = await encryptor.encrypt('form test', ctx);
    const compact = serializeEnvelope(envelope);
    const binary = envelopeToBytes(envelope);
    for (const form of [envelope, compact, binary, new Uint8Array(binary)]) {
      expect(await encryptor.decryptToString(form, ctx)).toBe('form test');
    }
  });

  it('reads parts that come back from a database as plain Uint8Arrays', async () => {
    const { encryptor } = await setup();
    const e = await encryptor.encrypt('columns', ctx);
    const fromColumns = {
      ...e,
      encryptedDataKey: new Uint8Array(e.encryptedDataKey),
      commitment: new Uint8Array(e.commitment),
      iv: new Uint8Array(e.iv),
      ciphertext: new Uint8Array(e.ciphertext),
      authTag: new Uint8Array(e.authTag),
    };
    expect(await encryptor.decryptToString(fromColumns, ctx)).toBe('columns');
  });

  it('uses a fresh random IV for every message, so equal plaintexts give different ciphertexts', async () => {
    const { encryptor } = await setup();
    const a = await encryptor.encrypt('same', ctx);
    const b = await encryptor.encrypt('same', ctx);
    expect(Buffer.compare(Buffer.from(a.iv), Buffer.from(b.iv))).not.toBe(0);
    expect(Buffer.compare(Buffer.from(a.ciphertext), Buffer.from(b.ciphertext))).not.toBe(0);
    expect(a.iv.length).toBe(12);
    expect(a.authTag.length).toBe(16);
  });

  it('shows the format and key version in the compact prefix', async () => {
    const { encryptor, inner } = await setup();
    const v1 = await encryptor.encryptToString('x');
    expect(v1.startsWith('afe1.v1.')).toBe(true);
    expect(compactEnvelopeKeyVersion(v1)).toBe(1);
    await inner.rotate();
    const v2 = await encryptor.encryptToString('x');
    expect(v2.startsWith('afe1.v2.')).toBe(true);
    expect(compactEnvelopeKeyVersion('not an envelope')).toBeUndefined();
  });

  it('decrypts envelopes of every older version after rotations, finding the key by version', async () => {
    const { encryptor, inner, calls } = await setup({ cache: false });
    const old: string[] = [];
    for (let i = 0; i < 4; i++) {
      old.push(await encryptor.encryptToString(`secret ${i}`, ctx));
      await inner.rotate();
    }
    expect(inner.currentKey().keyVersion).toBe(5);
    calls.decrypt = 0;
    for (let i = 0; i < 4; i++) expect(await encryptor.decryptToString(old[i]!, ctx)).toBe(`secret ${i}`);
    // One unwrap per envelope: no trial decryption across versions.
    expect(calls.decrypt).toBe(4);
  });
});

describe('binding and tampering', () => {
  it('a ciphertext moved to another row (another context) does not decrypt', async () => {
    const { encryptor } = await setup();
    const e = await encryptor.encrypt('bound', ctx);
    for (const other of [{ ...ctx, row: '43' }, { table: 'api_keys', column: 'value' }, { ...ctx, extra: '1' }, undefined]) {
      await expect(encryptor.decrypt(e, other)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED', message: 'decryption failed' });
    }
  });

  it('the context is canonical: key order does not matter', async () => {
    const { encryptor } = await setup();
    const e = await encryptor.encrypt('order', { a: '1', b: '2' });
    expect(await encryptor.decryptToString(e, { b: '2', a: '1' })).toBe('order');
  });

  it('refuses a changed ciphertext, tag, IV or header field with the one fixed message', async () => {
    const { encryptor } = await setup();
    const e = await encryptor.encrypt('tamper me', ctx);
    const flip = (b: Uint8Array) => {
      const c = Buffer.from(b);
      c[0]! ^= 1;
      return c;
    };
    const variants: Envelope[] = [
      { ...e, ciphertext: flip(e.ciphertext) },
      { ...e, authTag: flip(e.authTag) },
      { ...e, iv: flip(e.iv) },
      { ...e, commitment: flip(e.commitment) },
      { ...e, encryptedDataKey: flip(e.encryptedDataKey) },
    ];
    for (const v of variants) {
      await expect(encryptor.decrypt(v, ctx)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED', message: 'decryption failed' });
    }
  });

  it('key commitment: an envelope decrypts under exactly one data key', async () => {
    const { encryptor } = await setup({ cache: false });
    const a = await encryptor.encrypt('one key', ctx);
    const b = await encryptor.encrypt('another key', ctx);
    // B's wrapped data key unwraps fine, but its derived commitment is not A's.
    await expect(encryptor.decrypt({ ...a, encryptedDataKey: b.encryptedDataKey }, ctx)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  });

  it('an envelope from another root key does not decrypt', async () => {
    const one = await setup();
    const two = await setup();
    const e = await one.encryptor.encrypt('other root', ctx);
    await expect(two.encryptor.decrypt(e, ctx)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  });

  it('an unknown key version is refused by its own code, without a provider unwrap', async () => {
    const { encryptor } = await setup();
    const e = await encryptor.encrypt('v', ctx);
    const other = await setup();
    const foreign = await other.encryptor.encrypt('v', ctx);
    await expect(encryptor.decrypt({ ...foreign, keyVersion: 9 }, ctx)).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY_VERSION' });
    await expect(encryptor.decrypt({ ...e, keyVersion: 7 }, ctx)).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY_VERSION' });
  });

  it('an envelope naming another key id or provider is refused', async () => {
    const { encryptor } = await setup();
    const e = await encryptor.encrypt('v', ctx);
    await expect(encryptor.decrypt({ ...e, keyId: 'elsewhere' }, ctx)).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY' });
    await expect(encryptor.decrypt({ ...e, provider: 'aws-kms' }, ctx)).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY' });
  });
});

describe('bad input', () => {
  it('refuses non-string, non-byte plaintexts', async () => {
    const { encryptor } = await setup();
    for (const bad of [42, null, undefined, {}, [1, 2], true]) {
      await expect(encryptor.encrypt(bad as never)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    }
    await expect(encryptor.encrypt('\ud800 lone surrogate')).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });

  it('refuses a plaintext above the limit and an envelope too large to come from one', async () => {
    const { encryptor } = await setup({ maxPlaintextBytes: 1024 });
    await expect(encryptor.encrypt(Buffer.alloc(1025))).rejects.toMatchObject({ code: 'ERR_PLAINTEXT_TOO_LARGE' });
    const ok = await encryptor.encryptToString(Buffer.alloc(1024));
    expect((await encryptor.decrypt(ok)).length).toBe(1024);
    await expect(encryptor.decrypt(`afe1.v1.${'A'.repeat(200_000)}`)).rejects.toMatchObject({ code: 'ERR_ENVELOPE_TOO_LARGE' });
    await expect(encryptor.decrypt(Buffer.alloc(200_000, 1))).rejects.toMatchObject({ code: 'ERR_ENVELOPE_TOO_LARGE' });
  });

  it('refuses malformed contexts by ERR_INVALID_CONTEXT and writes nothing', async () => {
    const { encryptor, calls } = await setup();
    const bad: unknown[] = [
      'string',
      [1],
      { n: 1 },
      { '': 'empty key' },
      { 'af:reserved': 'x' },
      { big: 'x'.repeat(5000) },
      Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'])),
      { bad: '\udc00' },
      new Map([['row', '1']]),
      new (class Row { row = '1'; })(),
    ];
    for (const c of bad) await expect(encryptor.encrypt('x', c as never)).rejects.toMatchObject({ code: 'ERR_INVALID_CONTEXT' });
    expect(calls.generate).toBe(0);
  });

  it('refuses things that are not envelopes', async () => {
    const { encryptor } = await setup();
    for (const bad of [42, null, '', 'afe1.v1.', 'afe1.v0.AAAA', 'afe1.v01.AAAA', 'hello', {}, { formatVersion: 1 }]) {
      await expect(encryptor.decrypt(bad as never)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_(ENVELOPE_MALFORMED|UNSUPPORTED_FORMAT)$/) });
    }
    await expect(encryptor.decrypt('afe2.v1.AAAA')).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_FORMAT' });
    await expect(encryptor.decrypt(Buffer.from([2, 1, 1, 0, 0, 0, 1]))).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_FORMAT' });
    const e = await encryptor.encrypt('x');
    await expect(encryptor.decrypt({ ...e, formatVersion: 9 } as never)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_FORMAT' });
  });

  it('refuses a compact prefix that disagrees with the authenticated header', async () => {
    const { encryptor, inner } = await setup();
    const v1 = await encryptor.encryptToString('prefix');
    await inner.rotate();
    await expect(encryptor.decrypt(v1.replace('afe1.v1.', 'afe1.v2.'))).rejects.toMatchObject({ code: 'ERR_ENVELOPE_MALFORMED' });
  });

  it('refuses decrypted bytes that are not UTF-8 in decryptToString', async () => {
    const { encryptor } = await setup();
    const e = await encryptor.encrypt(Buffer.from([0xff, 0xfe, 0x00]));
    await expect(encryptor.decryptToString(e)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });

  it('validates its options and leaves the caller’s object untouched', async () => {
    const inner = await localProvider();
    await expect(async () => createEncryptor({} as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    for (const cache of [{ maxMessages: 0 }, { maxAgeMs: -1 }, { maxBytes: 1.5 }, { unknown: 1 }]) {
      expect(() => createEncryptor({ keyProvider: inner, cache: cache as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
    }
    const options = Object.freeze({ keyProvider: inner, cache: Object.freeze({ maxMessages: 5 }) });
    expect(() => createEncryptor(options)).not.toThrow();
  });
});

describe('data-key caching', () => {
  it('reuses one data key for many messages and decrypts them with no further unwrap', async () => {
    const { encryptor, calls } = await setup();
    const envelopes = [];
    for (let i = 0; i < 1000; i++) envelopes.push(await encryptor.encrypt(`m${i}`, ctx));
    expect(calls.generate).toBe(1);
    for (const e of envelopes) await encryptor.decrypt(e, ctx);
    expect(calls.decrypt).toBe(0);
  });

  it('a fresh encryptor unwraps the shared data key once for all its envelopes', async () => {
    const { encryptor, inner } = await setup();
    const envelopes = [];
    for (let i = 0; i < 200; i++) envelopes.push(await encryptor.encrypt(`m${i}`, ctx));
    const reader = countingProvider(inner);
    const fresh = createEncryptor({ keyProvider: reader.provider, logger: silentLogger });
    await Promise.all(envelopes.map((e) => fresh.decrypt(e, ctx)));
    expect(reader.calls.decrypt).toBe(1);
  });

  it('concurrent misses for one key share a single provider call', async () => {
    const { encryptor, calls } = await setup();
    await Promise.all(Array.from({ length: 100 }, (_, i) => encryptor.encrypt(`c${i}`, ctx)));
    expect(calls.generate).toBe(1);
  });

  it('keeps separate data keys per context', async () => {
    const { encryptor, calls } = await setup();
    await encryptor.encrypt('a', { row: '1' });
    await encryptor.encrypt('b', { row: '2' });
    await encryptor.encrypt('c', { row: '1' });
    expect(calls.generate).toBe(2);
  });

  it('stops using a data key after maxMessages messages', async () => {
    const { encryptor, calls } = await setup({ cache: { maxMessages: 10 } });
    for (let i = 0; i < 100; i++) await encryptor.encrypt('x');
    expect(calls.generate).toBe(10);
  });

  it('stops using a data key after maxMessages even under concurrency', async () => {
    const { encryptor, calls } = await setup({ cache: { maxMessages: 10 } });
    const envelopes = await Promise.all(Array.from({ length: 100 }, () => encryptor.encrypt('x')));
    const perKey = new Map<string, number>();
    for (const e of envelopes) {
      const k = Buffer.from(e.encryptedDataKey).toString('hex');
      perKey.set(k, (perKey.get(k) ?? 0) + 1);
    }
    expect(Math.max(...perKey.values())).toBeLessThanOrEqual(10);
    expect(calls.generate).toBe(perKey.size);
  });

  it('stops using a data key after maxBytes bytes, and gives an oversized message its own key', async () => {
    const { encryptor, calls } = await setup({ cache: { maxBytes: 100 } });
    for (let i = 0; i < 10; i++) await encryptor.encrypt(Buffer.alloc(30));
    // 3 messages of 30 bytes fit under 100: keys for messages 1-3, 4-6, 7-9, 10.
    expect(calls.generate).toBe(4);
    await encryptor.encrypt(Buffer.alloc(101));
    await encryptor.encrypt(Buffer.alloc(101));
    expect(calls.generate).toBe(6);
  });

  it('stops using a data key after maxAgeMs', async () => {
    const clock = manualClock();
    const { encryptor, calls } = await setup({ cache: { maxAgeMs: 1000 }, clock: clock.now });
    await encryptor.encrypt('x');
    clock.advance(999);
    await encryptor.encrypt('x');
    expect(calls.generate).toBe(1);
    clock.advance(1);
    await encryptor.encrypt('x');
    expect(calls.generate).toBe(2);
  });

  it('switches to the new primary version at once after a rotation', async () => {
    const { encryptor, inner } = await setup();
    expect((await encryptor.encrypt('x')).keyVersion).toBe(1);
    await inner.rotate();
    expect((await encryptor.encrypt('x')).keyVersion).toBe(2);
  });

  it('with caching off, every message gets its own data key', async () => {
    const { encryptor, calls } = await setup({ cache: false });
    for (let i = 0; i < 5; i++) await encryptor.decrypt(await encryptor.encrypt('x'));
    expect(calls).toEqual({ generate: 5, decrypt: 5 });
  });

  it('a provider failure reaches the caller with its code and is not cached', async () => {
    const inner = await localProvider();
    let fail = true;
    const encryptor = createEncryptor({
      logger: silentLogger,
      keyProvider: {
        name: 'local',
        currentKey: () => inner.currentKey(),
        generateDataKey: async (c) => {
          if (fail) throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
          return inner.generateDataKey(c);
        },
        decryptDataKey: (w, c) => inner.decryptDataKey(w, c),
      },
    });
    await expect(encryptor.encrypt('x')).rejects.toThrow('down');
    fail = false;
    expect((await encryptor.encrypt('x')).keyVersion).toBe(1);
  });
});

describe('operation events', () => {
  it('reports each encrypt and decrypt with its outcome and no plaintext or key bytes', async () => {
    const events: unknown[] = [];
    const keyEvents: unknown[] = [];
    const inner = await localProvider({ onKeyOperation: (e) => keyEvents.push(e) });
    const encryptor = createEncryptor({ keyProvider: inner, logger: silentLogger, onOperation: (e) => events.push(e) });
    const secret = 'plaintext-SECRET-value-123';
    const e = await encryptor.encrypt(secret, ctx);
    await encryptor.decrypt(e, ctx);
    await expect(encryptor.decrypt(e, { row: 'x' })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    expect(events).toEqual([
      { operation: 'encrypt', outcome: 'success', provider: 'local', keyVersion: 1 },
      { operation: 'decrypt', outcome: 'success', provider: 'local', keyVersion: 1 },
      { operation: 'decrypt', outcome: 'failure', provider: 'local', keyVersion: 1, errorCode: 'ERR_DECRYPTION_FAILED' },
    ]);
    expect(keyEvents).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ operation: 'generate_data_key', outcome: 'success', keyId: 'local', keyVersion: 1 }),
        expect.objectContaining({ operation: 'decrypt_data_key', outcome: 'failure', errorCode: 'ERR_DECRYPTION_FAILED' }),
      ]),
    );
    const text = JSON.stringify([events, keyEvents]);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(e.encryptedDataKey).toString('hex'));
  });

  it('a throwing hook does not change the result', async () => {
    const inner = await localProvider({ onKeyOperation: () => { throw new Error('hook'); } });
    const encryptor = createEncryptor({ keyProvider: inner, logger: silentLogger, onOperation: () => { throw new Error('hook'); } });
    expect(await encryptor.decryptToString(await encryptor.encrypt('still works'))).toBe('still works');
  });
});

describe('keyring shared between instances', () => {
  it('an instance meeting a version it has not loaded fetches it from the keyring', async () => {
    const rootKey = randomBytes(32);
    const keyring = createMemoryKeyringStore();
    const a = await localProvider({ rootKey, keyring });
    const b = await localProvider({ rootKey, keyring });
    await a.rotate();
    const ea = createEncryptor({ keyProvider: a, logger: silentLogger });
    const eb = createEncryptor({ keyProvider: b, logger: silentLogger });
    const envelope = await ea.encrypt('from a', ctx);
    expect(envelope.keyVersion).toBe(2);
    expect(await eb.decryptToString(envelope, ctx)).toBe('from a');
  });

  it('parseEnvelope is what decrypt uses: every form parses to the same parts', async () => {
    const { encryptor } = await setup();
    const e = await encryptor.encrypt('p', ctx);
    const parsed = parseEnvelope(serializeEnvelope(e), 1 << 20);
    expect(parsed.keyVersion).toBe(e.keyVersion);
    expect(Buffer.from(parsed.ciphertext).equals(Buffer.from(e.ciphertext))).toBe(true);
  });
});
