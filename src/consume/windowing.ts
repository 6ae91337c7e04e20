/**
 * The windows of the assigned partitions (src/windows/operator.ts), wired to the consumer: a rebalance starts
 * every partition's windows again from its commit point (the committed offset and, in its metadata, the
 * watermark state there), chunks of a partition are windowed in offset order, and commits wait for windows
 * (limit). With WINDOWS=off, none of this exists and commits follow the written records alone.
 */
import { log } from "../common/log.ts";
import { Aborted, backoff } from "../common/retry.ts";
import { metrics } from "../status/metrics.ts";
import { decodePoint, encodePoint, PartitionWindows, type WindowSettings } from "../windows/operator.ts";
import type { Offset } from "./commits.ts";

type Committed = () => Promise<Map<number, { offset: number; metadata: string | null }>>;

export class Windowing {
  private readonly partitions = new Map<number, PartitionWindows>();
  /** Per partition: resolves when its state is restored (rejects, for every chunk, if it cannot be). */
  private readonly restored = new Map<number, Promise<void>>();
  /** Per partition: the previous chunk's prelude. */
  private readonly chains = new Map<number, Promise<unknown>>();

  /** Counts assignments: a wait for an older one's commit points gives up. */
  private generation = 0;

  constructor(private readonly s: WindowSettings) {}

  /**
   * A new assignment: every partition starts over from its commit point (as the consumer does: KafkaJS
   * fetches again from the committed offsets). Chunks wait until the points are read.
   */
  assign(partitions: number[], committed: Committed): void {
    this.partitions.clear();
    this.restored.clear();
    this.chains.clear();
    const generation = ++this.generation;
    const points = (async () => {
      // Without the points the windows cannot be rebuilt exactly, so the partitions wait for them: Kafka away is
      // an outage (retried with backoff; the stall check names the partitions after STALL_TIMEOUT). A newer
      // assignment abandons the wait, and the chunks that waited are aborted, uncommitted.
      const t0 = Date.now();
      for (let attempt = 0; ; attempt++) {
        try {
          const all = await committed();
          log.info({ partitions, ms: Date.now() - t0 }, "windows: commit points read");
          return all;
        } catch (e) {
          if (attempt === 0 || attempt % 20 === 0) {
            log.warn({ err: (e as Error).message, attempt }, "cannot read the committed offsets' window state; retrying (the partitions wait)");
          }
          await Bun.sleep(backoff(attempt));
          if (generation !== this.generation) throw new Aborted();
        }
      }
    })();
    for (const p of partitions) {
      const w = new PartitionWindows(this.s);
      this.partitions.set(p, w);
      const restored = points.then((all) => {
        const c = all.get(p);
        const point = decodePoint(c?.metadata);
        if (point && point.offset === c?.offset) w.restore(point);
        else if (c && c.offset >= 0) log.info({ partition: p, offset: c.offset }, "no window state at the committed offset: windows start with no watermark");
      });
      restored.catch(() => {}); // handled by each chunk that waits for it
      this.restored.set(p, restored);
    }
  }

  /** Run `prelude` for a chunk of `partition` after the previous chunk's; then this chunk may be windowed. */
  inOrder<T>(partition: number, prelude: () => Promise<T>): Promise<T> {
    const next = Promise.all([this.restored.get(partition), this.chains.get(partition)]).then(prelude);
    this.chains.set(partition, next.catch(() => {}));
    return next;
  }

  of(partition: number): PartitionWindows | undefined {
    return this.partitions.get(partition);
  }

  /** Where a partition's commit may go: the furthest commit point within its completed records. */
  limit(partition: number, done: number): Offset | undefined {
    const point = this.partitions.get(partition)?.pointAt(done);
    return point && { partition, offset: point.offset, metadata: encodePoint(point) };
  }

  updateGauge(): void {
    let open = 0;
    for (const w of this.partitions.values()) open += w.openWindows;
    metrics.windowsOpen.set(open);
  }
}
