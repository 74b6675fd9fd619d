// The core's public surface, named one by one.

export { SecurityError, isSecurityError, DECRYPTION_FAILED_MESSAGE } from './core/errors.js';
export type { ErrorCode, ErrorDetails } from './core/errors.js';
export { defaultLogger, silentLogger } from './core/logger.js';
export type { Logger } from './core/logger.js';
export { systemClock } from './core/clock.js';
export type { Clock } from './core/clock.js';

export { loadSecurityConfig } from './config/env.js';
export type { SecurityConfig, LoadConfigOptions } from './config/env.js';
export { RootKey, parseEncryptionKey, assessKeyStrength } from './config/encryption-key.js';

export { createEncryptor } from './crypto/encryptor.js';
export type { Encryptor, EncryptorOptions, EncryptionOperationEvent } from './crypto/encryptor.js';
export type { DataKeyCacheLimits } from './crypto/data-key-cache.js';
export { DEFAULT_CACHE_LIMITS } from './crypto/data-key-cache.js';
export { serializeEnvelope, parseEnvelope, envelopeToBytes, compactEnvelopeKeyVersion } from './crypto/envelope.js';
export type { Envelope } from './crypto/envelope.js';
export type { EncryptionContext } from './crypto/encryption-context.js';

export type {
  KeyProvider,
  KeyRef,
  DataKey,
  WrappedDataKey,
  ProviderName,
  KeyOperationEvent,
  KeyOperationHook,
} from './keys/key-provider.js';
export { createLocalKeyProvider } from './keys/local-key-provider.js';
export type { LocalKeyProvider, LocalKeyProviderOptions } from './keys/local-key-provider.js';
export { createMemoryKeyringStore } from './keys/keyring.js';
export type { KeyringStore, KeyVersionRecord, KeyVersionInfo } from './keys/keyring.js';
export { createKmsKeyProvider, createKmsClient } from './keys/kms-key-provider.js';
export type { KmsKeyProvider, KmsKeyProviderOptions, KmsClientOptions } from './keys/kms-key-provider.js';

export { createPermissionEvaluator } from './permissions/evaluator.js';
export type { PermissionEvaluator, PermissionEvaluatorOptions } from './permissions/evaluator.js';
export { DEFAULT_POLICY, definePolicy, POLICY_LIMITS, WILDCARD } from './permissions/policy.js';
export type { PolicyDefinition, PermissionPolicy } from './permissions/policy.js';
export type { PermissionDecision, DecisionReason, PermissionStats, PermissionCount } from './permissions/decision.js';
export type { Principal, CompiledPrincipal } from './permissions/principal.js';
export type { GrantTarget, EscalationReason } from './permissions/escalation.js';

export { AUDIT_EVENT_TYPES, SEVERITY_RANK, nullAuditSink } from './audit/events.js';
export type { AuditEventType, AuditEventInput, AuditActor, AuditSink, Severity } from './audit/events.js';
export { createAuditLog } from './audit/audit-log.js';
export type { AuditLog, AuditLogOptions, AuditLogStats, AuditWriteFailure } from './audit/audit-log.js';
export { queryAuditLog, countAuditEvents } from './audit/audit-query.js';
export type { AuditRecord, AuditFilters, AuditQuery, AuditQueryResult, AuditCountQuery, AuditCount, AuditGroupBy } from './audit/audit-query.js';
export { SENSITIVE_METADATA_KEY } from './audit/sanitize.js';

export { openDatabase } from './storage/connect.js';
export type { OpenedDatabase, OpenDatabaseOptions } from './storage/connect.js';
export { migrateSecurityDatabase, dropSecurityTables } from './storage/migrations.js';
export { resolveTableNames, DEFAULT_TABLE_NAMES } from './storage/table-names.js';
export type { TableNames, TableNameOptions } from './storage/table-names.js';
export type { SecurityDatabase, RotationStatus } from './storage/schema.js';
export { createKyselyKeyringStore } from './storage/kysely-keyring-store.js';

export { createApiKeyService } from './api-keys/api-key-service.js';
export type { ApiKeyService, ApiKeyServiceOptions } from './api-keys/api-key-service.js';
export type { AssertCanGrant } from './api-keys/api-key-context.js';
export { parseIssuedKey, DEFAULT_KEY_PREFIX } from './api-keys/key-format.js';
export type { IssuedKeyParts } from './api-keys/key-format.js';
export { apiKeyStatus } from './api-keys/api-key-records.js';
export type { ApiKeyRecord, ApiKeyStatus, ApiKeyPermissions } from './api-keys/api-key-records.js';
export { DEFAULT_VERIFY_CACHE } from './api-keys/verify-cache.js';
export type { VerifyCacheLimits } from './api-keys/verify-cache.js';
export type {
  ApiKeyPrincipal,
  ApiKeyGrantTarget,
  OperationOptions as ApiKeyOperationOptions,
  ApiKeyGrantOptions,
  IssueApiKeyOptions,
  ApiKeyPatch,
  ReasonOptions as ApiKeyReasonOptions,
  RotateApiKeyOptions,
  ApiKeyQuery,
  ApiKeyPage,
  VerifyOptions,
  VerifyResult,
  VerifyFailureReason,
  IssuedApiKey,
  RotatedApiKey,
} from './api-keys/api-key-types.js';
export { loadPurposeKey } from './keys/purpose-keys.js';
export type { KeyPurpose } from './keys/purpose-keys.js';

export { createSecurity, initializeSecurity } from './security.js';
export type { Security, SecurityOptions } from './security.js';
