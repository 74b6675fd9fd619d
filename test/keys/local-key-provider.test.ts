import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createLocalKeyProvider } from '../../src/keys/local-key-provider.js';
import { createMemoryKeyringStore, type KeyringStore } from '../../src/keys/keyring.js';
import { createEncryptor } from '../../src/crypto/encryptor.js';
import { RootKey } from '../../src/config/encryption-key.js';
import { silentLogger } from '../../src/core/logger.js';
import type { KeyOperationEvent } from '../../src/keys/key-provider.js';

const quiet = { logger: silentLogger };

describe('local key provider', () => {
  it('starts an empty keyring at version 1 and makes each rotation the new primary', async () => {
    const provider = await createLocalKeyProvider({ rootKey: randomBytes(32), ...quiet });
    expect(provider.currentKey()).toEqual({ keyId: 'local', keyVersion: 1 });
    expect(await provider.rotate()).toEqual({ keyId: 'local', keyVersion: 2 });
    const versions = await provider.listVersions();
    expect(versions.map((v) => [v.version, v.primary])).toEqual([[1, false], [2, true]]);
    expect(JSON.stringify(versions)).not.toContain('wrappedKey');
  });

  it('accepts a RootKey from the config and keeps its key out of JSON', async () => {
    const bytes = randomBytes(32);
    const rootKey = RootKey.fromBytes(bytes);
    const provider = await createLocalKeyProvider({ rootKey, keyId: 'tenant-a', ...quiet });
    const { plaintextKey, encryptedKey } = await provider.generateDataKey({});
    expect(plaintextKey.length).toBe(32);
    expect(encryptedKey.length).toBe(60);
    expect(JSON.stringify({ rootKey })).not.toContain(bytes.toString('hex'));
  });

  it('binds a wrapped data key to its key version and context', async () => {
    const provider = await createLocalKeyProvider({ rootKey: randomBytes(32), ...quiet });
    const dk = await provider.generateDataKey({ row: '1' });
    const ref = { keyId: dk.keyId, keyVersion: dk.keyVersion, encryptedKey: dk.encryptedKey };
    expect((await provider.decryptDataKey(ref, { row: '1' })).equals(dk.plaintextKey)).toBe(true);
    await expect(provider.decryptDataKey(ref, { row: '2' })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    await provider.rotate();
    await expect(provider.decryptDataKey({ ...ref, keyVersion: 2 }, { row: '1' })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    await expect(provider.decryptDataKey({ ...ref, keyVersion: 3 }, { row: '1' })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY_VERSION' });
    await expect(provider.decryptDataKey({ ...ref, encryptedKey: ref.encryptedKey.subarray(1) }, { row: '1' })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  });

  it('two instances that rotate at once cannot both create version N+1', async () => {
    const rootKey = randomBytes(32);
    const keyring = createMemoryKeyringStore();
    const a = await createLocalKeyProvider({ rootKey, keyring, ...quiet });
    const b = await createLocalKeyProvider({ rootKey, keyring, ...quiet });
    const results = await Promise.all([a.rotate(), b.rotate(), a.rotate(), b.rotate()]);
    const versions = (await keyring.list('local')).map((r) => r.version).sort();
    expect(new Set(versions).size).toBe(versions.length);
    expect(Math.max(...results.map((r) => r.keyVersion))).toBe(Math.max(...versions));
    await a.refresh();
    await b.refresh();
    expect(a.currentKey()).toEqual(b.currentKey());
  });

  it('replacing the root: versions wrapped by a previous root stay readable, new ones use the new root', async () => {
    const oldRoot = RootKey.fromBytes(randomBytes(32));
    const newRoot = RootKey.fromBytes(randomBytes(32));
    const keyring = createMemoryKeyringStore();
    const before = await createLocalKeyProvider({ rootKey: oldRoot, keyring, ...quiet });
    const envelope = await createEncryptor({ keyProvider: before, ...quiet }).encrypt('kept', { a: 'b' });
    await expect(createLocalKeyProvider({ rootKey: newRoot, keyring, ...quiet })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY' });
    const after = await createLocalKeyProvider({ rootKey: newRoot, previousRootKeys: [oldRoot], keyring, ...quiet });
    expect(await createEncryptor({ keyProvider: after, ...quiet }).decryptToString(envelope, { a: 'b' })).toBe('kept');
    // New data must not stay under a version the old root wraps: a new primary is made at start.
    expect(after.currentKey().keyVersion).toBe(2);
    const v2 = (await keyring.list('local')).find((r) => r.version === 2)!;
    expect(v2.rootFingerprint).toBe(newRoot.fingerprint);
    expect((await createEncryptor({ keyProvider: after, ...quiet }).encrypt('new')).keyVersion).toBe(2);
    // Starting again with the same root makes no further version.
    const again = await createLocalKeyProvider({ rootKey: newRoot, previousRootKeys: [oldRoot], keyring, ...quiet });
    expect(again.currentKey().keyVersion).toBe(2);
  });

  it('a keyring record that was tampered with is refused', async () => {
    const rootKey = randomBytes(32);
    const keyring = createMemoryKeyringStore();
    await createLocalKeyProvider({ rootKey, keyring, ...quiet });
    const [record] = await keyring.list('local');
    const wrappedKey = Buffer.from(record!.wrappedKey);
    wrappedKey[20]! ^= 1;
    const tampered = createMemoryKeyringStore([{ ...record!, wrappedKey }]);
    await expect(createLocalKeyProvider({ rootKey, keyring: tampered, ...quiet })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    // A record moved to another version number fails too: the version is bound to the wrap.
    const moved = createMemoryKeyringStore([{ ...record!, version: 5 }]);
    await expect(createLocalKeyProvider({ rootKey, keyring: moved, ...quiet })).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  });

  it('reports generate, unwrap and version creation with no key bytes', async () => {
    const events: KeyOperationEvent[] = [];
    const provider = await createLocalKeyProvider({ rootKey: randomBytes(32), onKeyOperation: (e) => events.push(e), ...quiet });
    const dk = await provider.generateDataKey({});
    await provider.decryptDataKey({ ...dk }, {});
    expect(events.map((e) => `${e.operation}:${e.outcome}`)).toEqual([
      'create_key_version:success',
      'generate_data_key:success',
      'decrypt_data_key:success',
    ]);
    for (const e of events) {
      expect(e).toMatchObject({ provider: 'local', keyId: 'local', keyVersion: 1 });
      expect(e.durationMs).toBeGreaterThanOrEqual(0);
    }
    const text = JSON.stringify(events);
    expect(text).not.toContain(dk.plaintextKey.toString('hex'));
    expect(text).not.toContain(dk.plaintextKey.toString('base64'));
  });

  it('an envelope naming a made-up version costs one keyring lookup, not one per attempt', async () => {
    const inner = createMemoryKeyringStore();
    let gets = 0;
    const keyring: KeyringStore = { ...inner, list: (k) => inner.list(k), insert: (r) => inner.insert(r), get: (k, v) => { gets += 1; return inner.get(k, v); } };
    const provider = await createLocalKeyProvider({ rootKey: randomBytes(32), keyring, ...quiet });
    const dk = await provider.generateDataKey({});
    for (let i = 0; i < 50; i++) {
      await expect(provider.decryptDataKey({ ...dk, keyVersion: 99 }, {})).rejects.toMatchObject({ code: 'ERR_UNKNOWN_KEY_VERSION' });
    }
    expect(gets).toBe(1);
  });

  it('a keyring that cannot be written is a typed failure', async () => {
    const broken: KeyringStore = {
      list: async () => [],
      get: async () => undefined,
      insert: async () => { throw new Error('disk full'); },
    };
    await expect(createLocalKeyProvider({ rootKey: randomBytes(32), keyring: broken, ...quiet })).rejects.toMatchObject({ code: 'ERR_KEY_PROVIDER_FAILURE' });
  });

  it('refuses a root key that is not 32 bytes and bad options', async () => {
    for (const rootKey of [randomBytes(16), randomBytes(33), Buffer.alloc(0), 'a'.repeat(32), undefined]) {
      await expect(createLocalKeyProvider({ rootKey: rootKey as never, ...quiet })).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_INVALID_(OPTIONS|CONFIG)$/),
      });
    }
    await expect(createLocalKeyProvider({ rootKey: randomBytes(32), keyId: '', ...quiet })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    await expect(createLocalKeyProvider({ rootKey: randomBytes(32), keyId: 'has space', ...quiet })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  });
});
