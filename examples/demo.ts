/**
 * `npm run demo`: envelope encryption with a local key, a key rotation, and an old envelope that
 * still decrypts. Runs with no setup: without ENCRYPTION_KEY (outside production) the library
 * uses its development key and says so.
 */
import {
  compactEnvelopeKeyVersion,
  createEncryptor,
  createLocalKeyProvider,
  loadSecurityConfig,
  type Logger,
} from '../src/index.js';

// A host wires its own logger (pino, say); the demo prints warnings plainly.
const logger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (_obj, msg) => console.warn(`warning: ${msg}`),
  error: (_obj, msg) => console.error(`error: ${msg}`),
};

const config = loadSecurityConfig(process.env, { logger });
console.log(`config: local key (${config.encryptionKeyStatus}), rotation every ${config.keyRotation.days} days on "${config.keyRotation.schedule}"`);

const keyProvider = await createLocalKeyProvider({ rootKey: config.encryptionKey!, logger });
const encryptor = createEncryptor({ keyProvider, logger });

// The context binds the ciphertext to its row: moved to another row, it will not decrypt.
const context = { table: 'api_keys', column: 'value', row: '42' };
const stored = await encryptor.encryptToString('sk_live_example_customer_secret', context);
console.log(`stored under key version ${keyProvider.currentKey().keyVersion}: ${stored.slice(0, 40)}…`);

const rotatedTo = await keyProvider.rotate();
console.log(`rotated: version ${rotatedTo.keyVersion} is now primary`);
const fresh = await encryptor.encryptToString('a newer secret', context);
console.log(`new data is written under version ${compactEnvelopeKeyVersion(fresh)}: ${fresh.slice(0, 40)}…`);

const recovered = await encryptor.decryptToString(stored, context);
console.log(`the version-1 envelope still decrypts after rotation: ${recovered === 'sk_live_example_customer_secret'}`);

try {
  await encryptor.decryptToString(stored, { ...context, row: '43' });
} catch (error) {
  console.log(`moved to row 43 it is refused: ${(error as { code?: string }).code}`);
}
