import { randomBytes } from 'node:crypto';
import { createLocalKeyProvider, type LocalKeyProviderOptions } from '../../src/keys/local-key-provider.js';
import type { KeyProvider } from '../../src/keys/key-provider.js';
import { silentLogger } from '../../src/core/logger.js';

/** A local provider over a fresh random root key, for tests. */
export async function localProvider(options: Partial<LocalKeyProviderOptions> = {}) {
  return createLocalKeyProvider({ rootKey: randomBytes(32), logger: silentLogger, ...options });
}

/** Wraps a provider and counts the calls that reach it. */
export function countingProvider<P extends KeyProvider>(inner: P) {
  const calls = { generate: 0, decrypt: 0 };
  const provider: KeyProvider = {
    name: inner.name,
    currentKey: () => inner.currentKey(),
    async generateDataKey(context) {
      calls.generate += 1;
      return inner.generateDataKey(context);
    },
    async decryptDataKey(wrapped, context) {
      calls.decrypt += 1;
      return inner.decryptDataKey(wrapped, context);
    },
  };
  return { provider, calls };
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}
