import { SecurityError, isSecurityError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** Writes a batch of (key id, last use) pairs; the store's `writeLastUse`. */
export type LastUseWriter = (batch: ReadonlyArray<readonly [id: string, at: number]>) => Promise<void>;

/**
 * Remembers when each key was last used and writes it in batches, so verifying never writes per
 * request. Only the latest time per key is kept, and the SQL never lowers a stored time. A batch
 * that fails to write is kept for the next flush.
 *
 * @example
 * const tracker = new LastUseTracker(store.writeLastUse, 60_000, logger)
 * tracker.start()
 * tracker.touch(record.id, clock())
 * await tracker.stop() // flushes
 *
 * @throws nothing at creation; `flush` throws ERR_STORAGE_FAILURE
 */
export class LastUseTracker {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> = Promise.resolve(0);

  constructor(
    private readonly write: LastUseWriter,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** Keys waiting to be written. */
  get size(): number {
    return this.pending.size;
  }

  /** Records a use; only a later time replaces an earlier one. */
  touch(id: string, at: number): void {
    const previous = this.pending.get(id);
    if (previous === undefined || at > previous) this.pending.set(id, at);
  }

  /** Starts the periodic flush; the timer is unref'd, so it never keeps the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.flush().catch((error: unknown) => {
        this.logger.error({ code: isSecurityError(error) ? error.code : 'ERR_STORAGE_FAILURE' }, 'API-key last-use flush failed; retrying at the next interval');
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * Writes everything pending; resolves with the number of keys written. Flushes run one after
   * another, never two at once.
   * @throws ERR_STORAGE_FAILURE (the batch is kept for the next flush)
   */
  flush(): Promise<number> {
    const next = this.running.catch(() => 0).then(() => this.flushNow());
    this.running = next;
    return next;
  }

  /** Stops the timer and flushes. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async flushNow(): Promise<number> {
    if (this.pending.size === 0) return 0;
    const batch = [...this.pending];
    this.pending = new Map();
    try {
      await this.write(batch);
      return batch.length;
    } catch (error) {
      for (const [id, at] of batch) this.touch(id, at);
      throw isSecurityError(error) ? error : new SecurityError('ERR_STORAGE_FAILURE', 'last-use times could not be written', { cause: error });
    }
  }
}
