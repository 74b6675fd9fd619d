import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 16 * 1024;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * A fresh random IV from a pool refilled by the CSPRNG: `randomBytes(12)` costs about as much as
 * encrypting a kilobyte, most of it per call, so drawing 16 KiB at once and slicing is far cheaper.
 * IVs are public, so holding future ones in memory exposes nothing. Each call returns a copy, so
 * no two envelopes share IV memory.
 */
export function randomIv(length: number): Buffer {
  if (offset + length > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const iv = Buffer.from(pool.subarray(offset, offset + length));
  offset += length;
  return iv;
}
