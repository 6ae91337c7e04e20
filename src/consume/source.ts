/**
 * Source: a KafkaJS consumer group on the source topic, handing records to the pipeline in chunks.
 *
 * Fetching and writing overlap: a chunk is handed to the pipeline and the next fetch starts while it is
 * written, up to MAX_IN_FLIGHT records (then fetching waits, heartbeating). KafkaJS's resolved offset is
 * used only as the fetch position; commits are ours, decided by the delivery core (commits.ts): this file
 * is the KafkaJS adapter around it, with the consumer's crash restarts and the lag figures.
 */
import type { Admin, Consumer, ConsumerRunConfig, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import { classify, Stop } from "../common/failure.ts";
import { within } from "../common/retry.ts";
import { log } from "../common/log.ts";
import { metrics } from "../status/metrics.ts";
import { CommitCore, type Offset } from "./commits.ts";

/**
 * Chunks a partition may have in flight when MAX_IN_FLIGHT is full: two, so that one is handed over while
 * the other is written, and Cassandra always has requests waiting (it spends less per event with more at
 * once: the README's "What moved the figures").
 */
const CHUNKS_PER_PARTITION = 2;

/** The first wait before the source starts a crashed consumer again itself (see crashed()). */
const RESTART_FIRST_MS = 1000;
/** The longest wait between those restarts; the crash is logged at error once the waits reach it. */
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * On stop, how long the last offset commit and the group leave may take. With the broker away, KafkaJS
 * retries each for up to ~15 s; unbounded, a stop then took 11 s or more, after the writes' own grace
 * period, against the 30 s a service manager allows. Giving up costs nothing but rework: records after the
 * last acknowledged commit are read and written again on the next start (idempotent rows).
 */
const FINAL_COMMIT_MS = 5000;
const LEAVE_GROUP_MS = 3000;

export interface Chunk {
  topic: string;
  partition: number;
  messages: KafkaMessage[];
}

/** Processes a chunk completely (every record written or dead-lettered) or throws (Aborted when told to stop). */
export type ChunkHandler = (chunk: Chunk, signal: AbortSignal) => Promise<void>;

export interface SourceSettings {
  topic: string; groupId: string; maxInFlight: number; partitionsConcurrently: number; sessionTimeoutMs: number; commitIntervalMs: number;
  /** The most one fetch brings, and what it waits for: fetchMinBytes, or fetchMaxWaitMs at most. */
  fetchMaxBytes: number; fetchMinBytes: number; fetchMaxWaitMs: number;
}

export class KafkaSource {
  /** Partitions assigned by the last rebalance. */
  assigned: number[] = [];
  /** Records not yet committed, per assigned partition (from the group's offsets at join, then from commits). */
  readonly lag = new Map<number, number>();
  joined = false;
  /** Called when the pipeline cannot go on: a Stop (a wrong deployment, src/common/failure.ts) or a chunk that failed unexpectedly. */
  fatal?: (e: Error) => void;
  /** Where a partition's commits may go (CommitIO.limit): set by the pipeline when windows hold them. */
  limit?: (partition: number, done: number) => Offset | undefined;

  private readonly consumer: Consumer;
  private readonly admin: Admin;
  private readonly core: CommitCore;
  /** End of each partition at its last fetch. */
  private readonly highWatermarks = new Map<number, number>();
  private stopping = false;
  private runConfig?: ConsumerRunConfig;
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private restartDelayMs = RESTART_FIRST_MS;

  constructor(
    kafka: Kafka,
    private readonly s: SourceSettings,
    onAssignment: (partitions: number[]) => void,
  ) {
    this.consumer = kafka.consumer({
      groupId: s.groupId,
      sessionTimeout: s.sessionTimeoutMs,
      rebalanceTimeout: 60_000,
      heartbeatInterval: Math.min(3000, Math.floor(s.sessionTimeoutMs / 3)),
      maxWaitTimeInMs: s.fetchMaxWaitMs,
      minBytes: s.fetchMinBytes,
      // What one fetch may bring is what sits in memory at once: see KAFKA_FETCH_MAX_BYTES.
      maxBytes: s.fetchMaxBytes,
      maxBytesPerPartition: Math.max(64 * 1024, Math.ceil(s.fetchMaxBytes / s.partitionsConcurrently)),
      allowAutoTopicCreation: false,
      retry: { retries: 20, maxRetryTime: 10_000 },
    });
    this.admin = kafka.admin();
    this.core = new CommitCore({
      commit: (offsets) => this.consumer.commitOffsets(offsets.map((o) => ({ topic: s.topic, partition: o.partition, offset: String(o.offset), metadata: o.metadata ?? null }))),
      limit: (partition, done) => (this.limit ? this.limit(partition, done) : { partition, offset: done }),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
      commitFailed: (e) => {
        const v = classify("kafka consumer", e);
        if (v.action === "stop") this.fatal?.(new Stop(v.line));
        else log.warn({ err: e.message }, "offset commit failed; will commit again");
      },
      committed: (partition, offset, records) => {
        metrics.committed.inc(records);
        const hw = this.highWatermarks.get(partition);
        if (hw !== undefined) this.setLag(partition, Math.max(0, hw - offset));
      },
      fatal: (e, partition) => {
        if (!(e instanceof Stop)) log.error({ err: e.message, partition }, "a chunk failed unexpectedly; stopping so that it is read again");
        this.fatal?.(e);
      },
      inFlightChanged: (n) => metrics.inFlight.set(n),
    }, { maxInFlight: s.maxInFlight, commitIntervalMs: s.commitIntervalMs });
    const { GROUP_JOIN, CRASH, REBALANCING } = this.consumer.events;
    this.consumer.on(REBALANCING, () => {
      this.joined = false;
    });
    this.consumer.on(GROUP_JOIN, (e) => {
      this.restartDelayMs = RESTART_FIRST_MS;
      metrics.rebalances.inc();
      const partitions = [...(e.payload.memberAssignment[s.topic] ?? [])].sort((a, b) => a - b);
      this.assign(partitions);
      log.info({ groupId: s.groupId, memberId: e.payload.memberId, partitions }, "joined consumer group");
      onAssignment(partitions);
      this.refreshLag().catch((err) => log.warn({ err: (err as Error).message }, "could not read consumer lag"));
    });
    this.consumer.on(CRASH, (e) => this.crashed(e.payload.error, e.payload.restart));
  }

  async start(handle: ChunkHandler): Promise<void> {
    await this.admin.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.s.topic, fromBeginning: true });
    this.runConfig = {
      autoCommit: false, // commits are ours: only over completed chunks
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.s.partitionsConcurrently,
      eachBatch: (payload) => this.onBatch(payload, handle),
    };
    await this.consumer.run(this.runConfig);
  }

  /**
   * The consumer crashed (KafkaJS has already disconnected it). KafkaJS starts it again after a retriable
   * error only; but some it calls non-retriable are transient too: KafkaJSGroupCoordinatorNotFound, when
   * a FindCoordinator request fails while a broker restarts (kafkajs issues 1445 and 1630). A consumer
   * that stopped there would sit idle or exit, so the source starts it again itself, with backoff (1 s,
   * doubling to 30 s), until it runs again or the process is stopped; /readyz says 503 meanwhile.
   * Nothing is lost either way: work in flight is abandoned uncommitted and read again after the join.
   */
  crashed(error: Error | undefined, restartedByKafkaJS: boolean): void {
    this.joined = false;
    // A wrong deployment (denied ACL, bad credentials) is not waited out: the process stops with one line.
    const verdict = classify("kafka consumer", error);
    if (verdict.action === "stop" && !this.stopping) {
      this.fatal?.(new Stop(verdict.line));
      return;
    }
    const details = { err: error?.message, kind: error?.name, restartedByKafkaJS };
    // A warning while it recovers by itself: while stopping (the stop reports the broker being away), when
    // KafkaJS restarts it, and for the source's own first restarts. An error once those have backed off to
    // their 30 s cap: by then it has been away for about a minute and someone should look.
    if (this.stopping) log.warn(details, "Kafka consumer crashed while stopping");
    else if (restartedByKafkaJS) log.warn(details, "Kafka consumer crashed; KafkaJS starts it again");
    else if (this.restartDelayMs < MAX_RESTART_DELAY_MS) log.warn(details, "Kafka consumer crashed");
    else log.error(details, "Kafka consumer crashed again and again");
    if (restartedByKafkaJS || this.stopping || !this.runConfig) return;
    const retryInMs = this.restartDelayMs;
    log.info({ retryInMs }, "starting the Kafka consumer again");
    const config = this.runConfig;
    this.restartDelayMs = Math.min(MAX_RESTART_DELAY_MS, this.restartDelayMs * 2);
    this.restartTimer = setTimeout(async () => {
      this.restartTimer = null;
      if (this.stopping) return;
      try {
        await this.consumer.connect();
        if (!this.stopping) await this.consumer.run(config); // a failure to join comes back here as another crash
      } catch (e) {
        this.crashed(e as Error, false);
      }
    }, retryInMs);
  }

  /** Records handed to the pipeline and not yet done. */
  get inFlight(): number {
    return this.core.inFlight;
  }

  /** Assigned partitions with records waiting and no progress for timeoutMs (see CommitCore.stalled). */
  stalled(timeoutMs: number): { partition: number; seconds: number }[] {
    return this.core.stalled(timeoutMs);
  }

  /** A fetched batch: cut into chunks, each handed over as soon as there is room in flight. */
  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload, handle: ChunkHandler): Promise<void> {
    const { topic, partition, messages } = batch;
    const track = this.core.track(partition);
    if (!track) return; // not ours (any more): KafkaJS will not commit or refetch it for us
    this.highWatermarks.set(partition, Number(batch.highWatermark));
    const chunkSize = Math.max(1, Math.floor(this.s.maxInFlight / (this.s.partitionsConcurrently * CHUNKS_PER_PARTITION)));
    for (let i = 0; i < messages.length; i += chunkSize) {
      if (this.stopping || !isRunning() || isStale() || track.abort.signal.aborted) return;
      const chunk = messages.slice(i, i + chunkSize);
      // Wait until the chunk fits in flight, heartbeating meanwhile (a rebalance throws out of here).
      while (!this.stopping && !this.core.fits(chunk.length)) {
        await this.core.roomChanged(1000);
        await heartbeat();
      }
      if (this.stopping || track.abort.signal.aborted) return;
      const last = chunk[chunk.length - 1]!.offset;
      if (!this.core.run(partition, Number(last), chunk.length, (signal) => handle({ topic, partition, messages: chunk }, signal))) return;
      // The fetch position only: the next fetch goes on from here while this chunk is written.
      resolveOffset(last);
    }
  }

  /** A new assignment: abandon all work in flight (KafkaJS fetches again from the committed offsets). */
  private assign(partitions: number[]): void {
    this.core.assign(partitions);
    this.highWatermarks.clear();
    this.assigned = partitions;
    this.joined = true;
    this.lag.clear();
    metrics.consumerLag.reset();
    metrics.partitionStalled.reset();
    metrics.assignedPartitions.set(partitions.length);
  }

  private setLag(partition: number, lag: number): void {
    this.lag.set(partition, lag);
    metrics.consumerLag.set({ partition: String(partition) }, lag);
  }

  /** Lag and commit point of every assigned partition from the group's committed offsets (at join). */
  private async refreshLag(): Promise<void> {
    const [ends, committed] = await Promise.all([
      this.admin.fetchTopicOffsets(this.s.topic),
      this.admin.fetchOffsets({ groupId: this.s.groupId, topics: [this.s.topic] }),
    ]);
    const done = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
    for (const e of ends) {
      const t = this.core.track(e.partition);
      if (!t || t.committed >= 0) continue;
      const from = done.get(e.partition) ?? -1;
      t.committed = from >= 0 ? from : Number(e.low);
      const high = Math.max(this.highWatermarks.get(e.partition) ?? -1, Number(e.high));
      this.highWatermarks.set(e.partition, high);
      this.setLag(e.partition, Math.max(0, high - t.committed));
    }
  }

  /** Caught up: joined, nothing in flight, every assigned partition processed (not committed: windows hold commits) to its end. */
  caughtUp(): boolean {
    return this.joined && this.inFlight === 0 && this.assigned.every((p) => {
      const hw = this.highWatermarks.get(p);
      return this.lag.has(p) && hw !== undefined && (this.lag.get(p) === 0 || this.core.processed(p, hw));
    });
  }

  /** The group's committed offset and its metadata, per partition of the topic (for the windows' state). */
  async committed(): Promise<Map<number, { offset: number; metadata: string | null }>> {
    const [topic] = await this.admin.fetchOffsets({ groupId: this.s.groupId, topics: [this.s.topic] });
    return new Map(topic?.partitions.map((p) => [p.partition, { offset: Number(p.offset), metadata: p.metadata }]) ?? []);
  }

  /**
   * Stop fetching, let the chunks in flight finish (at most graceMs, then abort them: they stay
   * uncommitted and are read again), commit, leave the group.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.core.release();
    try {
      this.consumer.pause([{ topic: this.s.topic }]);
    } catch {
      // not running: nothing to pause
    }
    const deadline = Date.now() + graceMs;
    while (this.inFlight > 0 && Date.now() < deadline) await Bun.sleep(20);
    if (this.inFlight > 0) {
      log.warn({ graceMs, inFlight: this.inFlight }, "shutdown grace period over: aborting writes in flight; their records stay uncommitted");
      this.core.abortAll();
    }
    const committed = await within(this.core.flush(), FINAL_COMMIT_MS);
    if (this.core.uncommitted()) {
      log.warn({ gaveUpAfterMs: committed === "timeout" ? FINAL_COMMIT_MS : undefined },
        "last offset commit not made (Kafka unreachable?): records after the last commit will be read and written again on the next start; nothing is lost");
    }
    // Leaving the group is a courtesy (the others rebalance at once instead of after the session timeout);
    // what matters, the commit, is done or logged above, so a broker away now is a warning, not a failure.
    const left = await within(this.consumer.disconnect(), LEAVE_GROUP_MS); // stops the consumer and leaves the group first
    if (left !== "done") {
      log.warn({ err: left === "timeout" ? `no answer within ${LEAVE_GROUP_MS} ms` : left.message },
        "could not leave the consumer group cleanly; it will expire this member");
    }
    await within(this.admin.disconnect(), LEAVE_GROUP_MS);
  }
}
