/**
 * The delivery core: which records are in flight, which chunks are done, which offsets may be committed,
 * and what a rebalance or an abort does. Pure logic: Kafka's commit and the clock are injected (CommitIO),
 * so unit tests drive every race without a broker (test/unit/commits.test.ts); source.ts plugs KafkaJS in.
 *
 * The guarantee, at-least-once: per partition, chunks complete in any order, and the commit point moves
 * only over the longest prefix of completed chunks, so nothing is ever committed past a record that is
 * not written or dead-lettered. A new assignment abandons every chunk in flight (aborted, never committed):
 * the group fetches again from the committed offsets and the idempotent sink absorbs the replay.
 */
import { Aborted } from "../common/retry.ts";

export interface Offset {
  partition: number;
  offset: number; // the next offset to read: last done offset + 1
  metadata?: string; // committed with it (the windows' state at this offset)
}

/** What the core needs from the outside world. */
export interface CommitIO {
  /** Commit these offsets for the group; rejects if the broker refused or is away. */
  commit(offsets: Offset[]): Promise<void>;
  /** A timer (the real one in production, a manual one in tests). */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Told about each commit that failed (it is tried again on the next completion, or on stop). */
  commitFailed?(e: Error): void;
  /** Told about each commit that landed, with how many records it moved past. */
  committed?(partition: number, offset: number, records: number): void;
  /** A chunk failed with anything but Aborted: the process must stop so that it is read again. */
  fatal?(e: Error, partition: number): void;
  /** Records in flight changed. */
  inFlightChanged?(n: number): void;
  /** The wall clock, in ms (Date.now unless a test drives it). */
  now?(): number;
  /**
   * Where a partition's commit may go given its completed prefix (`done`), if something else holds it back
   * (open windows: src/windows/operator.ts), with metadata to commit alongside; undefined: nowhere yet.
   * Without it, commits go to `done`.
   */
  limit?(partition: number, done: number): Offset | undefined;
}

export interface CommitSettings {
  /** Records handed out and not yet done, at most (a chunk larger than this still goes alone). */
  maxInFlight: number;
  /** At most one commit per this many ms while chunks complete (each commit is a write on the broker). */
  commitIntervalMs: number;
}

/** One assigned partition: its chunks in fetch order, and its commit progress. */
export interface Track {
  readonly abort: AbortController;
  readonly pending: { next: number; done: boolean }[]; // next = last offset of the chunk + 1
  toCommit: number; // next offset that may be committed (-1: nothing new)
  committed: number; // next offset committed (-1: unknown)
  progressAt: number; // when a chunk last completed, or records began to wait (ms)
}

export class CommitCore {
  inFlight = 0;
  private readonly tracks = new Map<number, Track>();
  private readonly waiting: (() => void)[] = [];
  private committing: Promise<void> | null = null;
  private commitAgain = false;
  private timer: unknown = null;

  constructor(
    private readonly io: CommitIO,
    private readonly s: CommitSettings,
  ) {}

  /** A new assignment: abort and forget every chunk in flight; the partitions start over from Kafka's offsets. */
  assign(partitions: number[]): void {
    for (const t of this.tracks.values()) t.abort.abort();
    this.tracks.clear();
    const now = this.now();
    for (const p of partitions) this.tracks.set(p, { abort: new AbortController(), pending: [], toCommit: -1, committed: -1, progressAt: now });
  }

  track(partition: number): Track | undefined {
    return this.tracks.get(partition);
  }

  /** Whether n more records fit in flight (one chunk always fits when nothing is in flight). */
  fits(n: number): boolean {
    return this.inFlight === 0 || this.inFlight + n <= this.s.maxInFlight;
  }

  /** Resolves when records leave flight, or after ms at the latest (the caller heartbeats and asks again). */
  roomChanged(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.io.setTimer(resolve, ms);
    });
  }

  /**
   * Run one chunk of `partition` (offsets up to `lastOffset`, `records` of them) through `handle`. When it
   * completes the commit point may move; when it fails the chunk stays uncommitted (and, unless it was
   * aborted, the process is told to stop). Returns false, running nothing, if the partition is not ours.
   */
  run(partition: number, lastOffset: number, records: number, handle: (signal: AbortSignal) => Promise<void>): boolean {
    const track = this.tracks.get(partition);
    if (!track || track.abort.signal.aborted) return false;
    const entry = { next: lastOffset + 1, done: false };
    if (track.pending.length === 0) track.progressAt = this.now(); // records begin to wait now
    track.pending.push(entry);
    this.take(records);
    let ran: Promise<void>;
    try {
      ran = handle(track.abort.signal);
    } catch (e) {
      ran = Promise.reject(e);
    }
    ran.then(
      () => {
        this.give(records);
        entry.done = true;
        track.progressAt = this.now();
        this.complete(partition, track);
      },
      (e: unknown) => {
        this.give(records);
        // Aborted: a rebalance or the shutdown's grace period; the chunk stays uncommitted and is read again.
        if (!(e instanceof Aborted)) this.io.fatal?.(e instanceof Error ? e : new Error(String(e)), partition);
      },
    );
    return true;
  }

  /** Abort every chunk in flight (shutdown's grace period over): they stay uncommitted. */
  abortAll(): void {
    for (const t of this.tracks.values()) t.abort.abort();
  }

  /** Wake everything waiting for room (on stop). */
  release(): void {
    for (const w of this.waiting.splice(0)) w();
  }

  /**
   * Partitions with records waiting (chunks handed out, not done) and no chunk done for at least timeoutMs:
   * a stall (an outage being waited out, or something wrong), with how long, in seconds.
   */
  stalled(timeoutMs: number): { partition: number; seconds: number }[] {
    const now = this.now();
    const out: { partition: number; seconds: number }[] = [];
    for (const [partition, t] of this.tracks) {
      if (t.pending.some((c) => !c.done) && now - t.progressAt >= timeoutMs) out.push({ partition, seconds: Math.round((now - t.progressAt) / 1000) });
    }
    return out;
  }

  private now(): number {
    return this.io.now?.() ?? Date.now();
  }

  /** Some partition has done records that could be committed and are not. */
  uncommitted(): boolean {
    return [...this.tracks.entries()].some(([p, t]) => this.target(p, t).offset > t.committed);
  }

  /** Whether every record of the partition up to `end` is done (committed or not: windows may hold commits). */
  processed(partition: number, end: number): boolean {
    const t = this.tracks.get(partition);
    return !!t && Math.max(t.toCommit, t.committed) >= end && t.pending.length === 0;
  }

  /** Where the partition's commit may go now. */
  private target(partition: number, t: Track): Offset {
    if (t.toCommit < 0) return { partition, offset: -1 };
    return this.io.limit ? (this.io.limit(partition, t.toCommit) ?? { partition, offset: -1 }) : { partition, offset: t.toCommit };
  }

  /** The final commit: no timer, now. */
  flush(): Promise<void> {
    if (this.timer !== null) this.io.clearTimer(this.timer);
    this.timer = null;
    return this.commit();
  }

  private take(n: number): void {
    this.inFlight += n;
    this.io.inFlightChanged?.(this.inFlight);
  }

  private give(n: number): void {
    this.inFlight -= n;
    this.io.inFlightChanged?.(this.inFlight);
    this.release();
  }

  /** A chunk is done: move the partition's commit point over the done prefix, and commit soon. */
  private complete(partition: number, track: Track): void {
    if (this.tracks.get(partition) !== track) return; // from before a rebalance: never committed
    let next = -1;
    while (track.pending[0]?.done) next = track.pending.shift()!.next;
    if (next < 0) return;
    track.toCommit = next;
    // Not one commit per chunk: every commit is a write on the broker (batching them took the broker's
    // CPU per event while draining from 2.6 to 1.1-2.2 s per million). At most every commitIntervalMs, and on stop.
    this.timer ??= this.io.setTimer(() => {
      this.timer = null;
      void this.commit();
    }, this.s.commitIntervalMs);
  }

  /** Commit every partition's new commit point; one commit in flight at a time, the next one coalesced. */
  commit(): Promise<void> {
    if (this.committing) {
      this.commitAgain = true;
      return this.committing;
    }
    this.committing = (async () => {
      do {
        this.commitAgain = false;
        // Taken from the tracks of this moment: a rebalance during the commit replaces them, and what the
        // commit then acknowledges is applied to no new track (the new owner reads Kafka's offsets).
        const offsets = [...this.tracks.entries()]
          .map(([partition, track]) => ({ ...this.target(partition, track), track }))
          .filter((o) => o.offset > o.track.committed);
        if (!offsets.length) break;
        try {
          await this.io.commit(offsets.map(({ partition, offset, metadata }) => (metadata === undefined ? { partition, offset } : { partition, offset, metadata })));
        } catch (e) {
          // A rebalance in progress, or the broker away: the next completion commits again (and the
          // records are replayed if it never does). Nothing is lost either way.
          this.io.commitFailed?.(e as Error);
          break;
        }
        for (const { partition, offset, track } of offsets) {
          if (this.tracks.get(partition) !== track) continue;
          const records = track.committed >= 0 ? offset - track.committed : 0;
          track.committed = offset;
          this.io.committed?.(partition, offset, records);
        }
      } while (this.commitAgain);
    })().finally(() => {
      this.committing = null;
    });
    return this.committing;
  }
}
