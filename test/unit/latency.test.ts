import { expect, test } from "bun:test";
import { LatencyRecorder } from "../../src/status/latency.ts";

test("percentiles to the millisecond", () => {
  const r = new LatencyRecorder();
  expect(r.percentile(0.5)).toBeNull();
  for (let i = 1; i <= 1000; i++) r.record(i);
  expect(r.percentile(0.5)).toBe(500);
  expect(r.percentile(0.99)).toBe(990);
  expect(r.percentile(1)).toBe(1000);
  expect(r.max).toBe(1000);
  r.record(120_000); // beyond a minute: counted at the top, max kept exact
  expect(r.max).toBe(120_000);
  expect(r.percentile(1)).toBe(60_000);
});

test("the same counts as a Prometheus histogram: cumulative buckets, +Inf, sum and count", async () => {
  const r = new LatencyRecorder();
  for (const ms of [1, 2, 2, 5, 30, 250, 61_000]) r.record(ms);
  expect(r.cumulative([2, 5, 250, 60_000])).toEqual([3, 4, 6, 6]); // ≤ 2 ms, ≤ 5, ≤ 250, ≤ 60 s (61 s is above)
  const h = await r.histogram("x_seconds", "help", [0.002, 0.25, 60]).get();
  const line = (name: string, le?: string | number) => h.values.find((v) => v.metricName === name && (le === undefined || (v.labels as { le?: unknown }).le === le))?.value;
  expect(line("x_seconds_bucket", 0.002)).toBe(3);
  expect(line("x_seconds_bucket", 0.25)).toBe(6);
  expect(line("x_seconds_bucket", 60)).toBe(6);
  expect(line("x_seconds_bucket", "+Inf")).toBe(7);
  expect(line("x_seconds_count")).toBe(7);
  expect(line("x_seconds_sum")).toBeCloseTo((1 + 2 + 2 + 5 + 30 + 250 + 61_000) / 1000);
});
