// Tumbling event-time windows: Flink's WindowOperator + EventTimeTrigger semantics, pinned with worked examples,
// and the commit point's promise: a replay from any commit point gives exactly the results of one run.
import { describe, expect, test } from "bun:test";
import { type CommitPoint, decodePoint, encodePoint, NO_TIME, PartitionWindows, type WindowResult } from "../../src/windows/operator.ts";

const USER = "00000000-0000-4000-8000-000000000001";
const SECOND_USER = "00000000-0000-4000-8000-000000000002";

/** An operator and a driver: events by (time, type), offsets counted; results kept as Cassandra would (upserts). */
function run(s: { sizeMs: number; allowedLatenessMs: number; outOfOrdernessMs: number }) {
  const op = new PartitionWindows(s);
  let offset = 0;
  const stored = new Map<string, WindowResult>();
  const fired: WindowResult[] = [];
  const tooLate: number[] = [];
  return {
    op,
    add(time: number, type = "click", user = USER) {
      const ok = op.add(offset++, time, type, user);
      const f = op.take();
      for (const r of f.results) {
        fired.push(r);
        stored.set(`${r.start}/${r.eventType}`, r);
      }
      tooLate.push(...f.tooLate.map((t) => t.offset));
      op.done(f);
      return ok;
    },
    /** Move the watermark to exactly wm, with an event of another type far ahead in its own window. */
    watermarkTo(wm: number) {
      this.add(wm + s.outOfOrdernessMs + 1, "tick");
      expect(op.watermark).toBe(wm);
    },
    fired: () => fired.filter((r) => r.eventType !== "tick"),
    stored,
    tooLate,
  };
}

describe("watermarks (BoundedOutOfOrdernessWatermarks)", () => {
  test("max event time 10,000 with a 2 s bound: watermark 7,999", () => {
    const r = run({ sizeMs: 60_000, allowedLatenessMs: 0, outOfOrdernessMs: 2000 });
    expect(r.op.watermark).toBe(NO_TIME);
    r.add(10_000);
    expect(r.op.watermark).toBe(7_999);
    r.add(9_000); // an earlier event never moves it back
    expect(r.op.watermark).toBe(7_999);
  });
});

describe("EventTimeTrigger: a window [start, end) fires when the watermark reaches end − 1", () => {
  test("[0, 60,000) fires at watermark 59,999 and not at 59,998", () => {
    const r = run({ sizeMs: 60_000, allowedLatenessMs: 0, outOfOrdernessMs: 0 });
    r.add(1_000);
    r.add(30_000, "click", SECOND_USER);
    r.add(59_999);
    r.watermarkTo(59_998);
    expect(r.fired()).toEqual([]);
    r.watermarkTo(59_999);
    expect(r.fired()).toEqual([{ start: 0, end: 60_000, eventType: "click", events: 3, users: 2, final: true }]);
  });

  test("an event at 30,000 arriving at watermark 61,000: too late with allowed lateness 0", () => {
    const r = run({ sizeMs: 60_000, allowedLatenessMs: 0, outOfOrdernessMs: 2000 });
    r.add(10_000);
    r.watermarkTo(61_000);
    expect(r.add(30_000)).toBe(false);
    expect(r.tooLate).toEqual([2]);
    expect(r.fired()).toEqual([{ start: 0, end: 60_000, eventType: "click", events: 1, users: 1, final: true }]);
  });

  test("the same event with allowed lateness 2 s re-fires the window with the updated result", () => {
    const r = run({ sizeMs: 60_000, allowedLatenessMs: 2000, outOfOrdernessMs: 2000 });
    r.add(10_000);
    r.watermarkTo(61_000);
    expect(r.fired()).toEqual([{ start: 0, end: 60_000, eventType: "click", events: 1, users: 1, final: false }]);
    expect(r.add(30_000, "click", SECOND_USER)).toBe(true);
    expect(r.fired().at(-1)).toEqual({ start: 0, end: 60_000, eventType: "click", events: 2, users: 2, final: false });
    // Cleanup time 59,999 + 2,000 = 61,999: at that watermark the window is purged, its result final …
    r.watermarkTo(61_998);
    expect(r.fired().at(-1)!.final).toBe(false);
    r.watermarkTo(61_999);
    expect(r.fired().at(-1)).toEqual({ start: 0, end: 60_000, eventType: "click", events: 2, users: 2, final: true });
    // … and an event for it after that is too late (isWindowLate: cleanupTime <= watermark).
    expect(r.add(59_999)).toBe(false);
    expect(r.stored.get("0/click")!.events).toBe(2);
  });

  test("WindowOperatorTest's tumbling case: 3 s windows, elements out of order, fired per key at 2,999 and 5,999", () => {
    const r = run({ sizeMs: 3000, allowedLatenessMs: 0, outOfOrdernessMs: 0 });
    // Flink's testTumblingEventTimeWindows: key2 at 3,000, 20, 0, 999 … key1 at 1,998, 1,999, 1,000
    for (const [type, t] of [["key2", 3999], ["key2", 3000], ["key2", 20], ["key2", 0], ["key2", 999], ["key1", 1998], ["key1", 1999], ["key1", 1000]] as const) {
      r.add(t, type);
    }
    // The first element put the watermark at 3,998: [0, 3000) fired at once for each element as it came.
    expect(r.stored.get("0/key2")).toBeUndefined(); // 20, 0, 999 came after [0, 3000) was purged: too late
    expect(r.tooLate).toHaveLength(6);
    r.watermarkTo(5_998);
    expect(r.stored.get("3000/key2")).toBeUndefined();
    r.watermarkTo(5_999);
    expect(r.stored.get("3000/key2")).toMatchObject({ events: 2, final: true });
  });

  test("in order, 3 s windows: each key's window holds its own elements; an empty window never fires", () => {
    const r = run({ sizeMs: 3000, allowedLatenessMs: 0, outOfOrdernessMs: 1000 });
    for (const [type, t] of [["key2", 0], ["key2", 1000], ["key1", 1500], ["key2", 2999], ["key2", 3000], ["key1", 9000]] as const) r.add(t, type);
    // max 9,000 → watermark 7,999: [0, 3000) and [3000, 6000) fired; [6000, 9000) has no element, so no result.
    expect(r.fired().map((x) => [x.start, x.eventType, x.events])).toEqual([[0, "key2", 3], [0, "key1", 1], [3000, "key2", 1]]);
    expect(r.tooLate).toEqual([]);
  });

  test("a new window that the watermark has already passed, within the lateness, fires on its first element", () => {
    const r = run({ sizeMs: 1000, allowedLatenessMs: 10_000, outOfOrdernessMs: 0 });
    r.watermarkTo(10_000);
    r.add(2_500);
    expect(r.fired().at(-1)).toEqual({ start: 2000, end: 3000, eventType: "click", events: 1, users: 1, final: false });
  });

  test("distinct users per type, past the 31 types a window counts by bit", () => {
    const r = run({ sizeMs: 60_000, allowedLatenessMs: 0, outOfOrdernessMs: 0 });
    for (let t = 0; t < 40; t++) for (let u = 0; u <= t % 5; u++) r.add(1000 + t, `type-${t}`, `user-${u}`);
    r.add(1000, "type-0", "user-9"); // a second user for the first type
    r.watermarkTo(59_999);
    const got = new Map(r.fired().map((x) => [x.eventType, [x.events, x.users]]));
    expect(got.size).toBe(40);
    for (let t = 0; t < 40; t++) expect([t, got.get(`type-${t}`)]).toEqual([t, t === 0 ? [2, 2] : [(t % 5) + 1, (t % 5) + 1]]);
  });

  test("window starts are epoch-aligned", () => {
    const op = new PartitionWindows({ sizeMs: 60_000, allowedLatenessMs: 0, outOfOrdernessMs: 0 });
    expect(op.startOf(1_733_000_012_345)).toBe(1_733_000_012_345 - (1_733_000_012_345 % 60_000));
    expect(op.startOf(120_000)).toBe(120_000);
    expect(op.startOf(119_999)).toBe(60_000);
  });
});

describe("the commit point", () => {
  test("never past an open window's first record; past a window once it is purged and written", () => {
    const op = new PartitionWindows({ sizeMs: 1000, allowedLatenessMs: 0, outOfOrdernessMs: 0 });
    op.add(0, 100, "a", USER);
    op.add(1, 1100, "a", USER); // fires and purges [0, 1000)
    expect(op.commitPoint()).toEqual({ offset: 0, maxEventTime: NO_TIME, closedBefore: 0 });
    const f = op.take();
    expect(f.results).toEqual([{ start: 0, end: 1000, eventType: "a", events: 1, users: 1, final: true }]);
    expect(op.commitPoint().offset).toBe(0); // not written yet
    op.done(f);
    expect(op.commitPoint()).toEqual({ offset: 1, maxEventTime: 100, closedBefore: 1000 });
  });

  test("interleaved windows: the point goes to the open window's first record, and says the earlier one is closed", () => {
    const s = { sizeMs: 1000, allowedLatenessMs: 0, outOfOrdernessMs: 1500 };
    const op = new PartitionWindows(s);
    op.add(0, 500, "a", USER); // W0
    op.add(1, 1500, "a", USER); // W1
    op.add(2, 900, "a", SECOND_USER); // W0 again: W0's records are at offsets 0 and 2
    op.add(3, 2600, "a", USER); // watermark 1099: W0 purged
    op.done(op.take());
    // W1 is open from offset 1; W0, closed and written, has a record after it: the replay must skip that one.
    const point = op.commitPoint();
    expect(point).toEqual({ offset: 1, maxEventTime: 500, closedBefore: 1000 });
    const replay = new PartitionWindows(s);
    replay.restore(point);
    expect(replay.add(1, 1500, "a", USER)).toBe(true);
    expect(replay.add(2, 900, "a", SECOND_USER)).toBe(true); // not too late, and not counted again
    replay.add(3, 2600, "a", USER);
    replay.add(4, 4100, "a", USER); // watermark 2599: W1 fires
    expect(replay.take().results).toEqual([{ start: 1000, end: 2000, eventType: "a", events: 1, users: 1, final: true }]);
  });

  test("a stream with 30 s of jitter: the commit point keeps up with the watermark (never stuck at the start)", () => {
    const op = new PartitionWindows({ sizeMs: 60_000, allowedLatenessMs: 0, outOfOrdernessMs: 120_000 });
    let seed = 3;
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const n = 20_000;
    for (let o = 0; o < n; o++) op.add(o, 1_000_000 + o * 20 - Math.floor(rnd() * 30_000), "a", USER);
    op.done(op.take());
    // 400 s of events, the watermark 120 s behind the last: about 4 of the 7 minutes are closed.
    const point = op.commitPoint();
    expect(point.offset).toBeGreaterThan(n * 0.4);
    expect(point.offset).toBeLessThan(n * 0.7);
  });

  test("the watermark travels with the commit point: restarted where no window is open, a too-late event is still too late", () => {
    const op = new PartitionWindows({ sizeMs: 1000, allowedLatenessMs: 0, outOfOrdernessMs: 500 });
    op.restore({ offset: 100, maxEventTime: 10_000, closedBefore: 9_000 });
    op.skip(100); // a dead letter: no window opens, the point moves and keeps the max
    expect(op.commitPoint()).toEqual({ offset: 101, maxEventTime: 10_000, closedBefore: 9_000 });
    expect(op.add(101, 8_000, "a", USER)).toBe(false); // [8000, 9000): 8,999 <= watermark 9,499
    expect(op.take().tooLate).toEqual([{ offset: 101, start: 8000, eventType: "a" }]);
    expect(new PartitionWindows({ sizeMs: 1000, allowedLatenessMs: 0, outOfOrdernessMs: 500 }).add(101, 8_000, "a", USER)).toBe(true);
  });

  test("commit metadata round-trips; anything else is no metadata", () => {
    const p: CommitPoint = { offset: 12345, maxEventTime: 1_733_000_000_000, closedBefore: 1_732_999_800_000 };
    expect(decodePoint(encodePoint(p))).toEqual(p);
    for (const m of [null, "", "x", "{}", '{"windows":{"offset":"1"}}', '{"windows":{"offset":1,"maxEventTime":2}}']) expect(decodePoint(m)).toBeUndefined();
  });

  test("a replay from any commit point, with its restored state, stores exactly what one uninterrupted run does", () => {
    const s = { sizeMs: 1000, allowedLatenessMs: 300, outOfOrdernessMs: 800 };
    // A seeded stream: time moving forward with jitter, some events far behind (too late), several types and users.
    let seed = 7;
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const events = Array.from({ length: 3000 }, (_, i) => ({
      t: 10_000 + i * 7 + Math.floor(rnd() * 900) - (rnd() < 0.03 ? 3000 : 0),
      type: ["view", "click", "buy"][Math.floor(rnd() * 3)]!,
      user: `u${Math.floor(rnd() * 40)}`,
    }));
    const chunk = 37;
    /** Run from `from` (restored from `point`), chunk by chunk; upsert into `stored`; stop after `crashAfter` chunks. */
    function feed(stored: Map<string, WindowResult>, late: Set<number>, point?: CommitPoint, crashAfter = Infinity): CommitPoint[] {
      const op = new PartitionWindows(s);
      if (point) op.restore(point);
      const points: CommitPoint[] = [];
      let from = point?.offset ?? 0;
      for (let n = 0; from < events.length && n < crashAfter; n++, from += chunk) {
        for (let o = from; o < Math.min(from + chunk, events.length); o++) op.add(o, events[o]!.t, events[o]!.type, events[o]!.user);
        const f = op.take();
        for (const r of f.results) stored.set(`${r.start}/${r.eventType}`, r);
        for (const t of f.tooLate) late.add(t.offset);
        op.done(f);
        points.push(op.commitPoint());
      }
      return points;
    }
    const once = new Map<string, WindowResult>(), onceLate = new Set<number>();
    const uninterrupted = feed(once, onceLate);
    expect(uninterrupted.at(-1)!.offset).toBeGreaterThan(events.length * 0.9); // commits keep up
    expect(onceLate.size).toBeGreaterThan(20);
    expect([...once.values()].filter((r) => r.final).length).toBeGreaterThan(20);
    for (const crashAfter of [1, 5, 17, 40, 63, 80]) {
      const stored = new Map<string, WindowResult>(), late = new Set<number>();
      const points = feed(stored, late, undefined, crashAfter);
      // The crash loses everything after the last commit point; the next owner starts there.
      const point = points.at(-1)!;
      expect(point.offset).toBeLessThanOrEqual(crashAfter * chunk);
      feed(stored, late, point);
      expect([crashAfter, stored]).toEqual([crashAfter, once]);
      expect([crashAfter, [...late].sort((a, b) => a - b)]).toEqual([crashAfter, [...onceLate].sort((a, b) => a - b)]);
    }
  });
});
