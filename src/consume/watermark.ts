/**
 * Event-time watermarks with Flink's bounded-out-of-orderness semantics.
 *
 * Per partition: watermark = maxEventTime - outOfOrderness - 1 ms (Flink's
 * BoundedOutOfOrdernessWatermarks). The pipeline's watermark is the minimum over the assigned partitions
 * that are not idle, and it never moves backwards. A partition that has seen nothing yet holds the
 * watermark back, as in Flink, until it has been silent for idleTimeout (Flink's withIdleness). When
 * every partition is idle, the watermark stays where it is.
 *
 * An event is late when its event_time is at or below the current watermark. Like Flink's periodic
 * emission, the watermark advances between batches (advance()), not between records of one batch.
 *
 * A rebalance starts it over (setAssignment): every assigned partition, kept or new, starts with no watermark
 * of its own, as a new Flink split does. After a rebalance the consumer reads every assigned partition again
 * from its committed offset, so this is exactly the state a fresh consumer would have: a lagging partition
 * moved to a consumer that was ahead is judged by its own progress, not by the other partitions' (its events
 * would otherwise all count late). The watermark may therefore step back at a rebalance, and only then.
 */
export const NO_WATERMARK = Number.MIN_SAFE_INTEGER;

interface PartitionState {
  maxEventTime: number; // NO_WATERMARK until the first event
  lastActivity: number; // wall clock of the last record, or of the assignment
}

export class Watermarks {
  private readonly partitions = new Map<number, PartitionState>();
  private current = NO_WATERMARK;

  constructor(
    private readonly outOfOrdernessMs: number,
    private readonly idleTimeoutMs: number,
  ) {}

  /** Partitions given to this consumer by a rebalance start with no events and fresh idleness. */
  assign(partitions: Iterable<number>, now: number): void {
    for (const p of partitions) if (!this.partitions.has(p)) this.partitions.set(p, { maxEventTime: NO_WATERMARK, lastActivity: now });
  }

  /** A rebalance's assignment: exactly these partitions, each starting with no watermark, as on a fresh start. */
  setAssignment(partitions: number[], now: number): void {
    this.partitions.clear();
    this.current = NO_WATERMARK;
    this.assign(partitions, now);
  }

  isLate(eventTime: number): boolean {
    return eventTime <= this.current;
  }

  /** Record an event (or just activity, with eventTime undefined) of a partition. */
  observe(partition: number, eventTime: number | undefined, now: number): void {
    let st = this.partitions.get(partition);
    if (!st) {
      st = { maxEventTime: NO_WATERMARK, lastActivity: now };
      this.partitions.set(partition, st);
    }
    st.lastActivity = now;
    if (eventTime !== undefined && eventTime > st.maxEventTime) st.maxEventTime = eventTime;
  }

  /** Recompute the pipeline's watermark; returns it. Never moves backwards. */
  advance(now: number): number {
    let min = Number.POSITIVE_INFINITY;
    for (const st of this.partitions.values()) {
      if (now - st.lastActivity >= this.idleTimeoutMs) continue; // idle: does not hold the watermark back
      const wm = this.of(st);
      if (wm < min) min = wm;
    }
    if (min !== Number.POSITIVE_INFINITY && min > this.current) this.current = min;
    return this.current;
  }

  /** One partition's watermark (NO_WATERMARK before its first event). */
  private of(st: PartitionState): number {
    return st.maxEventTime === NO_WATERMARK ? NO_WATERMARK : st.maxEventTime - this.outOfOrdernessMs - 1;
  }

  get value(): number {
    return this.current;
  }

  /** Per-partition view for the status page. */
  snapshot(now: number): { partition: number; watermark: number | null; idle: boolean }[] {
    return [...this.partitions.entries()].map(([partition, st]) => ({
      partition,
      watermark: st.maxEventTime === NO_WATERMARK ? null : this.of(st),
      idle: now - st.lastActivity >= this.idleTimeoutMs,
    }));
  }
}
