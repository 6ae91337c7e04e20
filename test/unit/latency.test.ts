import { expect, test } from "bun:test";
import { LatencyRecorder } from "../../src/latency.ts";

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
