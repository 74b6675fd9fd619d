/**
 * `npm run bench`: every benchmark of the library, each against its baseline in the same run.
 * Prints markdown for docs/benchmarks.md.
 */
import os from 'node:os';
import { runEncryptionBench } from './encryption.bench.js';
import { runKmsCallsBench } from './kms-calls.bench.js';
import { runAuditBench } from './audit.bench.js';
import { runApiKeysBench } from './api-keys.bench.js';
import { runPermissionsBench } from './permissions.bench.js';

const only = process.argv[2];
const sections: Array<[string, () => Promise<string>]> = [
  ['encryption', runEncryptionBench],
  ['kms-calls', runKmsCallsBench],
  ['permissions', runPermissionsBench],
  ['audit', runAuditBench],
  ['api-keys', runApiKeysBench],
];

console.log(`# Benchmarks — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'} × ${os.cpus().length}\n`);
for (const [name, run] of sections) {
  if (only !== undefined && only !== name) continue;
  console.log(await run());
  console.log('');
}
