import { RootKey, assessKeyStrength, developmentRootKey, parseEncryptionKey } from './encryption-key.js';
import type { Problems } from './problems.js';

/** What is wrong with the root key when the status is not `ok`. */
export type EncryptionKeyIssue = 'missing' | 'known_default' | 'low_entropy';
/** How the root key came to be in the config: `ok`, the public development key, or a weak key accepted. */
export type EncryptionKeyStatus = 'ok' | 'development_default' | 'accepted_insecure';

/** The root key, undefined when unset, or null when malformed (the problem is recorded). */
export function readRootKey(input: unknown, label: string, problems: Problems): RootKey | undefined | null {
  if (input === undefined) return undefined;
  if (input instanceof RootKey) return input;
  try {
    if (typeof input === 'string') return RootKey.fromBytes(parseEncryptionKey(input, label));
    if (input instanceof Uint8Array) return RootKey.fromBytes(input);
  } catch {
    // Both throw only for a key that is not 32 bytes; the problem below says so without the value.
  }
  problems.add(
    `${label} must be 32 bytes encoded as base64, base64url or hex (64 hex characters); the value given is not 32 bytes in any of these forms`,
    'ENCRYPTION_KEY',
  );
  return null;
}

export interface RootKeyDecision {
  key: RootKey | undefined;
  status: EncryptionKeyStatus;
  issue?: EncryptionKeyIssue;
  refusal?: { reason: EncryptionKeyIssue; problem: string };
  log?: { level: 'warn' | 'error'; message: string };
}

const GENERATE_HINT = "generate one with: node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64'))\"";
const ISSUE_TEXT: Record<EncryptionKeyIssue, string> = {
  missing: 'ENCRYPTION_KEY is not set',
  known_default: 'ENCRYPTION_KEY is a publicly known default key',
  low_entropy: 'ENCRYPTION_KEY has low entropy (it is not 32 random bytes)',
};

export function decideRootKey(
  root: RootKey | undefined,
  ctx: { kmsEnabled: boolean; production: boolean; allowInsecure: boolean },
): RootKeyDecision {
  let issue: EncryptionKeyIssue;
  if (root === undefined) {
    // Under KMS the root key is optional: KMS holds the key-encryption keys.
    if (ctx.kmsEnabled) return { key: undefined, status: 'ok' };
    issue = 'missing';
  } else {
    const bytes = root.bytes();
    const strength = assessKeyStrength(bytes);
    bytes.fill(0);
    if (!strength.weak) return { key: root, status: 'ok' };
    issue = strength.reason;
  }
  const key = root ?? developmentRootKey();
  // Invariant: in production an insecure root key refuses to start unless explicitly accepted.
  if (ctx.production) {
    if (!ctx.allowInsecure) {
      const alternative = issue === 'missing' ? ', or USE_AWS_KMS=true with a KMS key' : '';
      const problem = `${ISSUE_TEXT[issue]}; production needs a random 32-byte key${alternative} (${GENERATE_HINT})`;
      return { key, status: 'accepted_insecure', issue, refusal: { reason: issue, problem } };
    }
    const using = issue === 'missing' ? '; using the public development key' : '';
    return {
      key,
      status: 'accepted_insecure',
      issue,
      log: { level: 'error', message: `${ISSUE_TEXT[issue]} in production${using}; accepted only because allowInsecureEncryptionKey is set. Data it protects is not safe` },
    };
  }
  if (issue === 'missing') {
    return {
      key,
      status: 'development_default',
      issue,
      log: { level: 'warn', message: `ENCRYPTION_KEY is not set; using the public development key outside production. Never use it for real data (${GENERATE_HINT})` },
    };
  }
  return {
    key,
    status: 'accepted_insecure',
    issue,
    log: { level: 'warn', message: `${ISSUE_TEXT[issue]}; accepted outside production, refused in production (${GENERATE_HINT})` },
  };
}

