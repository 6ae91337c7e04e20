import { expect, test } from "bun:test";
import { NO_WATERMARK, Watermarks } from "../../src/consume/watermark.ts";

const OOO = 120_000; // the design's 2 minutes
const IDLE = 30_000;
const T = Date.parse("2026-11-22T12:00:00Z");

test("one partition: max event time - out-of-orderness - 1 ms", () => {
  const w = new Watermarks(OOO, IDLE);
  w.assign([0], 0);
  expect(w.advance(0)).toBe(NO_WATERMARK);
  w.observe(0, T, 1);
  expect(w.advance(1)).toBe(T - OOO - 1);
  // an older event does not move it back
  w.observe(0, T - 60_000, 2);
  expect(w.advance(2)).toBe(T - OOO - 1);
});

test("late means at or below the watermark", () => {
  const w = new Watermarks(OOO, IDLE);
  w.assign([0], 0);
  w.observe(0, T, 0);
  w.advance(0);
  expect(w.isLate(T - OOO - 1)).toBe(true);
  expect(w.isLate(T - OOO)).toBe(false);
  expect(w.isLate(T - 3 * 60_000)).toBe(true); // 3 minutes behind: late
  expect(w.isLate(T - 90_000)).toBe(false); // 90 s of jitter: within bounds
});

test("the pipeline's watermark is the minimum over partitions", () => {
  const w = new Watermarks(OOO, IDLE);
  w.assign([0, 1, 2], 0);
  w.observe(0, T, 0);
  w.observe(1, T + 10_000, 0);
  expect(w.advance(0)).toBe(NO_WATERMARK); // partition 2 has seen nothing and is not idle yet
  w.observe(2, T - 5_000, 0);
  expect(w.advance(0)).toBe(T - 5_000 - OOO - 1);
});

test("an idle partition stops holding the watermark back, and holds it again once active", () => {
  const w = new Watermarks(OOO, IDLE);
  w.assign([0, 1], 0);
  w.observe(0, T, 0);
  expect(w.advance(IDLE - 1)).toBe(NO_WATERMARK);
  w.observe(0, T + 1000, IDLE); // partition 0 active, partition 1 silent since assignment
  expect(w.advance(IDLE)).toBe(T + 1000 - OOO - 1);
  // partition 1 wakes up with old events: the watermark does not go backwards
  w.observe(1, T - 600_000, IDLE + 1);
  expect(w.advance(IDLE + 1)).toBe(T + 1000 - OOO - 1);
  expect(w.isLate(T - 600_000)).toBe(true);
});

test("all partitions idle: the watermark stays", () => {
  const w = new Watermarks(OOO, IDLE);
  w.assign([0], 0);
  w.observe(0, T, 0);
  const wm = w.advance(0);
  expect(w.advance(10 * IDLE)).toBe(wm);
});

test("rebalance: the assignment starts over, as on a fresh start; new partitions hold it until they are active or idle", () => {
  const w = new Watermarks(OOO, IDLE);
  w.setAssignment([0, 1], 0);
  w.observe(0, T, 0);
  w.observe(1, T - 50_000, 0);
  expect(w.advance(0)).toBe(T - 50_000 - OOO - 1);
  w.setAssignment([0, 2], 1000); // 1 revoked, 2 assigned; 0 kept, and read again from its committed offset
  expect(w.snapshot(1000).map((s) => s.partition).sort()).toEqual([0, 2]);
  expect(w.value).toBe(NO_WATERMARK);
  w.observe(0, T + 5_000, 1000);
  expect(w.advance(1000)).toBe(NO_WATERMARK); // 2 holds it: nothing of it is late before it has been read
  expect(w.advance(1000 + IDLE)).toBe(NO_WATERMARK); // 0 went idle too at the same time: stays
  w.observe(2, T + 20_000, 1000 + IDLE);
  expect(w.advance(1000 + IDLE)).toBe(T + 20_000 - OOO - 1); // 0 idle, 2 active
});

test("a lagging partition moved to a consumer that was ahead: nothing counted late that a fresh consumer would not count", () => {
  // Consumer A owns partition 0, caught up to T; partition 1 lags 10 minutes behind on consumer B.
  const lagging = Array.from({ length: 200 }, (_, i) => T - 600_000 + i * 1000 + ((i * 7919) % 5) * 20_000); // out of order by up to 80 s
  const a = new Watermarks(OOO, IDLE);
  a.setAssignment([0], 0);
  a.observe(0, T, 0);
  a.advance(0);
  expect(a.isLate(lagging[0]!)).toBe(true); // judged by partition 0's progress, all of partition 1 would be late
  // The rebalance gives A both partitions; a fresh consumer with the same assignment reads the same records.
  a.setAssignment([0, 1], 1);
  const fresh = new Watermarks(OOO, IDLE);
  fresh.setAssignment([0, 1], 1);
  const lateOn = (w: Watermarks) => {
    let late = 0;
    for (let i = 0; i < lagging.length; i += 10) { // chunks of 10, the watermark advancing between them
      for (const t of lagging.slice(i, i + 10)) {
        if (w.isLate(t)) late++;
        w.observe(1, t, 2);
        w.observe(0, T + i, 2);
      }
      w.advance(2);
    }
    return late;
  };
  const [onA, onFresh] = [lateOn(a), lateOn(fresh)];
  expect(onA).toBe(onFresh);
  expect(onA).toBe(0); // out of order by at most 80 s, inside the 2 minutes: none late (judged by partition 0, all 200 were)
});