/**
 * Group commit for the collector: the events of many concurrent requests go to Kafka in one produce request,
 * one at a time, and each request learns when all of its own events are acknowledged.
 *
 * One send in flight at a time is what the idempotent producer wants (sequence numbers in order), and it makes
 * the batches: while one send waits for its acks, the requests that arrive meanwhile queue, and the next send
 * takes them all (up to maxBytes). At a light load a request is sent at once; under a heavy one, batches grow
 * instead of requests queueing behind each other. The send itself is injected (Kafka in collect.ts, a function
 * in the unit tests).
 */
export class Overloaded extends Error {}

interface Waiting<M> {
  items: M[];
  bytes: number;
  done(e?: unknown): void;
}

export interface BatcherLimits {
  /** Most bytes one send carries (Kafka's max.message.bytes is per batch: 1 MiB by default). */
  maxBytes: number;
  /** Most bytes waiting to be sent; past it a request is refused at once (Overloaded) rather than held. */
  maxPending: number;
}

export class Batcher<M> {
  private queue: Waiting<M>[] = [];
  private pendingBytes = 0;
  private sending: Promise<void> | null = null;
  /** When the send in flight began (0: none), for readiness: a send that takes long means Kafka is away. */
  sendingSince = 0;

  constructor(
    private readonly send: (items: M[]) => Promise<void>,
    private readonly size: (m: M) => number,
    private readonly limits: BatcherLimits,
  ) {}

  /** Resolves once every item is acknowledged; rejects with the send's error, or at once with Overloaded. */
  submit(items: M[]): Promise<void> {
    let bytes = 0;
    for (const m of items) bytes += this.size(m);
    if (this.pendingBytes + bytes > this.limits.maxPending) {
      return Promise.reject(new Overloaded(`${Math.round(this.pendingBytes / 1024)} KiB already wait for Kafka`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.queue.push({ items, bytes, done: (e) => (e === undefined ? resolve() : reject(e)) });
    this.pendingBytes += bytes;
    this.sending ??= this.loop();
    return promise;
  }

  /** Bytes waiting or in flight. */
  get pending(): number {
    return this.pendingBytes;
  }

  /** Resolves when nothing is waiting or in flight (for a graceful stop). */
  async drain(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async loop(): Promise<void> {
    // Requests that arrive in the same turn of the event loop go in the first send together.
    await Promise.resolve();
    while (this.queue.length) {
      const batch: Waiting<M>[] = [];
      let bytes = 0;
      while (this.queue.length && (batch.length === 0 || bytes + this.queue[0]!.bytes <= this.limits.maxBytes)) {
        const w = this.queue.shift()!;
        bytes += w.bytes;
        batch.push(w);
      }
      this.sendingSince = Date.now();
      let error: unknown;
      try {
        await this.send(batch.length === 1 ? batch[0]!.items : batch.flatMap((w) => w.items));
      } catch (e) {
        error = e ?? new Error("send failed");
      }
      this.sendingSince = 0;
      this.pendingBytes -= bytes;
      for (const w of batch) w.done(error);
    }
    this.sending = null;
  }
}
