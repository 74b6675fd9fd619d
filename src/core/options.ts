import type { z } from 'zod';
import { SecurityError, type ErrorCode } from './errors.js';

/**
 * Validates a factory's options once, at construction. zod issues are reduced to path and code:
 * their messages can echo the input, and an option may be a key.
 */
export function parseOptions<T extends z.ZodType>(
  schema: T,
  input: unknown,
  where: string,
  code: ErrorCode = 'ERR_INVALID_OPTIONS',
): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.code}`);
  throw new SecurityError(code, `invalid options for ${where}: ${problems.join('; ')}`, {
    details: { where, problems },
  });
}
