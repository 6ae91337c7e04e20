/**
 * Source: a KafkaJS consumer group on the source topic, handing records to the pipeline in chunks.
 *
 * At-least-once: an offset is resolved (and so committed, after each batch) only once the handler has
 * finished every record up to it. A chunk that fails or is aborted resolves nothing; its records come
 * again, to this consumer or, after a rebalance, to another one. Memory is bounded: a chunk holds at
 * most maxInFlight / partitionsConcurrently records, and a fetch at most maxBytes.
 */
import type { Admin, Consumer, Kafka, KafkaMessage } from "kafkajs";
import { log } from "./log.ts";
import { metrics } from "./metrics.ts";
import { Aborted } from "./retry.ts";

export interface Chunk {
  topic: string;
  partition: number;
  messages: KafkaMessage[];
}

/** Processes a chunk completely (every record written or dead-lettered) or throws. */
export type ChunkHandler = (chunk: Chunk, signal: AbortSignal) => Promise<void>;

export interface SourceSettings {
  topic: string;
  groupId: string;
  maxInFlight: number;
  partitionsConcurrently: number;
  sessionTimeoutMs: number;
}

export class KafkaSource {
  /** Partitions assigned by the last rebalance. */
  assigned: number[] = [];
  /** Records not yet processed, per assigned partition (from the group's committed offsets at join, then from each batch). */
  readonly lag = new Map<number, number>();
  joined = false;
  private readonly consumer: Consumer;
  private readonly admin: Admin;
  /** Fired on shutdown after the grace period: aborts retries in flight, so that stop() is bounded. */
  private readonly shutdown = new AbortController();

  constructor(
    kafka: Kafka,
    private readonly s: SourceSettings,
    private readonly onAssignment: (partitions: number[]) => void,
  ) {
    this.consumer = kafka.consumer({
      groupId: s.groupId,
      sessionTimeout: s.sessionTimeoutMs,
      rebalanceTimeout: 60_000,
      heartbeatInterval: 3000,
      maxWaitTimeInMs: 250,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 16 * 1024 * 1024,
      allowAutoTopicCreation: false,
      retry: { retries: 20, maxRetryTime: 10_000 },
    });
    this.admin = kafka.admin();
    const { GROUP_JOIN, CRASH, REBALANCING } = this.consumer.events;
    this.consumer.on(REBALANCING, () => {
      this.joined = false;
    });
    this.consumer.on(GROUP_JOIN, (e) => {
      const partitions = [...(e.payload.memberAssignment[s.topic] ?? [])].sort((a, b) => a - b);
      this.assigned = partitions;
      this.joined = true;
      for (const p of this.lag.keys()) if (!partitions.includes(p)) this.lag.delete(p);
      metrics.assignedPartitions.set(partitions.length);
      metrics.consumerLag.reset();
      log.info({ groupId: s.groupId, memberId: e.payload.memberId, partitions }, "joined consumer group");
      onAssignment(partitions);
      this.refreshLag().catch((err) => log.warn({ err: (err as Error).message }, "could not read consumer lag"));
    });
    this.consumer.on(CRASH, (e) => {
      log.error({ err: e.payload.error?.message, restart: e.payload.restart }, "Kafka consumer crashed");
      if (!e.payload.restart) this.fatal?.(e.payload.error);
    });
  }

  /** Called when KafkaJS gives up on the consumer (not restartable); the pipeline exits non-zero. */
  fatal?: (e: Error) => void;

  async start(handle: ChunkHandler): Promise<void> {
    await this.admin.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.s.topic, fromBeginning: true });
    const chunkSize = Math.max(1, Math.floor(this.s.maxInFlight / this.s.partitionsConcurrently));
    await this.consumer.run({
      autoCommit: true, // commits resolved offsets after each batch, and only those
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.s.partitionsConcurrently,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition, messages } = batch;
        // A rebalance seen by the heartbeat, or a shutdown past its grace, aborts this batch's retries.
        const abort = new AbortController();
        const onShutdown = () => abort.abort();
        this.shutdown.signal.addEventListener("abort", onShutdown);
        const beat = setInterval(() => heartbeat().catch(() => abort.abort()), 3000);
        try {
          for (let i = 0; i < messages.length && isRunning() && !isStale() && !abort.signal.aborted; i += chunkSize) {
            const chunk = messages.slice(i, i + chunkSize);
            metrics.inFlight.inc(chunk.length);
            try {
              await handle({ topic, partition, messages: chunk }, abort.signal);
            } catch (e) {
              // Aborted: leave the chunk unresolved. KafkaJS fetches from the last resolved offset, so
              // these records come again (here, or to the partition's next owner).
              if (e instanceof Aborted) break;
              throw e;
            } finally {
              metrics.inFlight.dec(chunk.length);
            }
            const last = chunk[chunk.length - 1]!.offset;
            resolveOffset(last);
            metrics.committed.inc(chunk.length);
            const lag = Math.max(0, Number(batch.highWatermark) - Number(last) - 1);
            this.lag.set(partition, lag);
            metrics.consumerLag.set({ partition: String(partition) }, lag);
          }
        } finally {
          clearInterval(beat);
          this.shutdown.signal.removeEventListener("abort", onShutdown);
        }
      },
    });
  }

  /** Lag of every assigned partition from the group's committed offsets (used at join, before any batch). */
  private async refreshLag(): Promise<void> {
    const [ends, committed] = await Promise.all([
      this.admin.fetchTopicOffsets(this.s.topic),
      this.admin.fetchOffsets({ groupId: this.s.groupId, topics: [this.s.topic] }),
    ]);
    const done = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
    for (const e of ends) {
      if (!this.assigned.includes(e.partition) || this.lag.has(e.partition)) continue;
      const from = done.get(e.partition) ?? -1;
      const lag = Number(e.high) - (from >= 0 ? from : Number(e.low));
      this.lag.set(e.partition, lag);
      metrics.consumerLag.set({ partition: String(e.partition) }, lag);
    }
  }

  /** Caught up: joined, and every assigned partition's lag is known and zero. */
  caughtUp(): boolean {
    return this.joined && this.assigned.every((p) => this.lag.get(p) === 0);
  }

  /**
   * Stop fetching and let the batch in hand finish, then leave the group; past graceMs the retries in
   * flight are aborted (their records stay uncommitted and will be read again).
   */
  async stop(graceMs: number): Promise<void> {
    const timer = setTimeout(() => {
      log.warn({ graceMs }, "shutdown grace period over: aborting writes in flight; their records stay uncommitted");
      this.shutdown.abort();
    }, graceMs);
    try {
      await this.consumer.stop();
      await this.consumer.disconnect();
    } finally {
      clearTimeout(timer);
      await this.admin.disconnect().catch(() => {});
    }
  }
}
