/**
 * Tumbling event-time windows for one Kafka partition, with the semantics of Flink's WindowOperator and
 * EventTimeTrigger. Pure logic: no I/O, no clock (test/unit/windows.test.ts pins it with worked examples).
 *
 * - A window is [start, end), start a multiple of the size (epoch-aligned, UTC). Its maxTimestamp is end − 1.
 * - The watermark is maxEventTime − outOfOrderness − 1 (Flink's BoundedOutOfOrdernessWatermarks).
 * - An event is too late when cleanupTime = end − 1 + allowedLateness ≤ watermark (Flink's isWindowLate): it is
 *   not counted (the caller counts and records it). Otherwise it joins its window; if the window has already
 *   fired (end − 1 ≤ watermark) it fires again with the updated result (EventTimeTrigger.onElement: FIRE).
 * - When the watermark reaches end − 1 the window fires; when it reaches its cleanup time its state is purged,
 *   and its last result is final.
 *
 * Two deliberate differences from a Flink job, both for exactly-once results on replay:
 * - The watermark is this partition's own, advanced after every record (punctuated), not the minimum over
 *   partitions emitted every 200 ms: every decision is then a function of the partition's records in offset
 *   order and of the watermark at the first one, so a replay from a commit point decides exactly as before.
 * - Commits are held (commitPoint()): never past the first record of a window not yet purged and written, so
 *   a replay rebuilds every such window from its first record. What the replay must not rebuild travels with
 *   the offset (the commit's metadata; restore()): the max event time before it (the watermark the records
 *   after it were judged by) and `closedBefore`, the start below which every window is closed and written. A
 *   replayed record of such a window is too late if it was too late the first time (the watermark is the
 *   same), and otherwise was counted in the stored result already: it is skipped.
 */
export const NO_TIME = Number.MIN_SAFE_INTEGER;

export interface WindowSettings {
  sizeMs: number;
  allowedLatenessMs: number;
  outOfOrdernessMs: number;
}

/** One window's result for one event type, as written (and overwritten) in Cassandra. */
export interface WindowResult {
  start: number;
  end: number;
  eventType: string;
  events: number;
  users: number;
  /** The window is purged: no later event can change this result. */
  final: boolean;
}

/** An event too late for its window: counted, and recorded by its offset (idempotent on replay). */
export interface TooLate {
  offset: number;
  start: number;
  eventType: string;
}

/** Where commits may go: the offset, the max event time before it, and the closed windows' bound (restored on the next start). */
export interface CommitPoint {
  offset: number;
  maxEventTime: number;
  /** Every window starting before this is closed and its final result written. */
  closedBefore: number;
}

/** One type's count in a window: a bit in Window.users, or, past 31 types, a set of its own. */
interface TypeCount {
  events: number;
  bit: number;
  more?: Set<string>;
}

interface Window {
  start: number;
  first: number; // offset of its first record
  maxBefore: number; // the partition's max event time just before its first record
  types: Map<string, TypeCount>;
  /** Distinct users, each with a bit per type it was seen with (the window's first 31 types; `more` holds the rest). */
  users: Map<string, number>;
  fired: boolean;
  dirty: Set<string>; // types whose result changed since it was last taken
}

/** What a chunk must write before its offsets may be committed; done() once written. */
export interface Firing {
  results: WindowResult[];
  tooLate: TooLate[];
  /** Windows purged by this chunk: they hold commits until their final results are written. */
  readonly purged: Window[];
}

export class PartitionWindows {
  private maxEventTime = NO_TIME;
  /** Open windows (not purged), by start. */
  private readonly open = new Map<number, Window>();
  /** Purged windows whose final result is not written yet: they hold the commit point. */
  private readonly unwritten = new Set<Window>();
  /** Restored: windows starting before this were closed and written before the commit point. */
  private closedBefore = NO_TIME;
  private tooLate: TooLate[] = [];
  private purged: Window[] = [];
  /** The next offset after the last record seen. */
  private next = -1;

  constructor(private readonly s: WindowSettings) {}

  /** The state a commit point left: the max event time before the offset the partition starts at. */
  restore(point: CommitPoint): void {
    this.maxEventTime = point.maxEventTime;
    this.next = point.offset;
    this.closedBefore = point.closedBefore;
  }

  get watermark(): number {
    return this.maxEventTime === NO_TIME ? NO_TIME : this.maxEventTime - this.s.outOfOrdernessMs - 1;
  }

  startOf(eventTime: number): number {
    return eventTime - (((eventTime % this.s.sizeMs) + this.s.sizeMs) % this.s.sizeMs);
  }

  /** A record that is not an event (a dead letter): only its offset moves. */
  skip(offset: number): void {
    this.next = offset + 1;
  }

  /** One event, in offset order. Returns false if it is too late for its window (it is then in the next firing's tooLate). */
  add(offset: number, eventTime: number, eventType: string, userId: string): boolean {
    this.next = offset + 1;
    const start = this.startOf(eventTime);
    const maxTs = start + this.s.sizeMs - 1;
    const wm = this.watermark;
    if (maxTs + this.s.allowedLatenessMs <= wm) {
      this.tooLate.push({ offset, start, eventType });
      return false;
    }
    // Replayed after a restore: a window closed and written before the commit point already counts this one.
    if (start < this.closedBefore) return true;
    let w = this.open.get(start);
    if (!w) {
      w = { start, first: offset, maxBefore: this.maxEventTime, types: new Map(), users: new Map(), fired: false, dirty: new Set() };
      this.open.set(start, w);
    }
    let t = w.types.get(eventType);
    if (!t) {
      const n = w.types.size;
      w.types.set(eventType, (t = n < 31 ? { events: 0, bit: 1 << n } : { events: 0, bit: 0, more: new Set() }));
    }
    t.events++;
    // One map entry per user and window, not one set entry per user and type: a fifth of the memory and of the
    // hashing with the simulator's eight types (docs/benchmark.md, windows on against off).
    if (t.bit) {
      const seen = w.users.get(userId);
      if (seen === undefined) w.users.set(userId, t.bit);
      else if ((seen & t.bit) === 0) w.users.set(userId, seen | t.bit);
    } else t.more!.add(userId);
    // An event for a window the watermark has reached, within the allowed lateness: the window fires (again)
    // with the updated result (EventTimeTrigger.onElement).
    if (maxTs <= wm) {
      w.fired = true;
      w.dirty.add(eventType);
    }
    if (eventTime > this.maxEventTime) {
      this.maxEventTime = eventTime;
      this.onWatermark();
    }
    return true;
  }

  /** The watermark moved: fire the windows it reached, purge those past their cleanup time. */
  private onWatermark(): void {
    const wm = this.watermark;
    for (const w of this.open.values()) {
      const maxTs = w.start + this.s.sizeMs - 1;
      if (maxTs > wm) continue;
      if (!w.fired) {
        w.fired = true;
        for (const type of w.types.keys()) w.dirty.add(type);
      }
      if (maxTs + this.s.allowedLatenessMs <= wm) {
        this.open.delete(w.start);
        this.unwritten.add(w);
        this.purged.push(w);
      }
    }
  }

  /** What changed since the last take: results to (over)write, too-late events to record. */
  take(): Firing {
    const results: WindowResult[] = [];
    // A purged window's every result is written once more, final: a reader then knows it is closed.
    const emit = (w: Window, final: boolean) => {
      const perBit = new Map<number, number>();
      for (const seen of w.users.values()) {
        for (let m = seen; m !== 0; m &= m - 1) {
          const bit = m & -m;
          perBit.set(bit, (perBit.get(bit) ?? 0) + 1);
        }
      }
      for (const type of final ? w.types.keys() : w.dirty) {
        const t = w.types.get(type)!;
        const users = t.bit ? (perBit.get(t.bit) ?? 0) : t.more!.size;
        results.push({ start: w.start, end: w.start + this.s.sizeMs, eventType: type, events: t.events, users, final });
      }
      w.dirty.clear();
    };
    for (const w of this.open.values()) if (w.dirty.size) emit(w, false);
    for (const w of this.purged) emit(w, true);
    const firing: Firing = { results, tooLate: this.tooLate, purged: this.purged };
    this.tooLate = [];
    this.purged = [];
    return firing;
  }

  /** A firing's writes are acknowledged: its purged windows stop holding the commit point (their state is freed). */
  done(firing: Firing): void {
    for (const w of firing.purged) {
      this.unwritten.delete(w);
      w.types.clear();
      w.users.clear();
    }
  }

  /**
   * The furthest offset a commit may reach: the first record of the oldest window that is open or not yet
   * written (or the next offset, if none is), with the max event time before it, and the start below which
   * every window is closed and written: older than every open or unwritten window, and past its cleanup time
   * (a window with no record yet is closed by the watermark alone).
   */
  commitPoint(): CommitPoint {
    const { sizeMs, allowedLatenessMs } = this.s;
    const wm = this.watermark;
    // The oldest window the watermark has not closed: cleanup = start + size − 1 + lateness > watermark.
    let closedBefore = wm === NO_TIME ? NO_TIME : this.startOf(wm - allowedLatenessMs - sizeMs + 1) + sizeMs;
    let point = { offset: this.next, maxEventTime: this.maxEventTime };
    const hold = (w: Window) => {
      if (w.first < point.offset) point = { offset: w.first, maxEventTime: w.maxBefore };
      if (w.start < closedBefore) closedBefore = w.start;
    };
    for (const w of this.open.values()) hold(w);
    for (const w of this.unwritten) hold(w);
    return { ...point, closedBefore: Math.max(closedBefore, this.closedBefore) };
  }

  /** Commit points recorded after chunks' writes, in offset order (see pointAt). */
  private points: CommitPoint[] = [];

  /** After a chunk's writes are acknowledged: remember where commits may now go. */
  recordPoint(): void {
    const p = this.commitPoint();
    if (p.offset >= 0 && p.offset > (this.points.at(-1)?.offset ?? -1)) this.points.push(p);
  }

  /**
   * The furthest recorded commit point at or before `done` (the end of the partition's completed chunks): a
   * point past it would commit records still in flight, and the watermark at `done` itself is not known.
   */
  pointAt(done: number): CommitPoint | undefined {
    let i = -1;
    while (i + 1 < this.points.length && this.points[i + 1]!.offset <= done) i++;
    if (i < 0) return undefined;
    const p = this.points[i]!;
    this.points = this.points.slice(i); // earlier ones are superseded
    return p;
  }

  /** Open windows (for the status page). */
  get openWindows(): number {
    return this.open.size;
  }
}

/** Commit metadata: the commit point's watermark state, as the next owner of the partition reads it. */
export const encodePoint = (p: CommitPoint): string => JSON.stringify({ windows: p });

export function decodePoint(metadata: string | null | undefined): CommitPoint | undefined {
  if (!metadata) return undefined;
  try {
    const w = (JSON.parse(metadata) as { windows?: CommitPoint }).windows;
    return w && Number.isSafeInteger(w.offset) && Number.isSafeInteger(w.maxEventTime) && Number.isSafeInteger(w.closedBefore)
      ? { offset: w.offset, maxEventTime: w.maxEventTime, closedBefore: w.closedBefore } : undefined;
  } catch {
    return undefined;
  }
}
