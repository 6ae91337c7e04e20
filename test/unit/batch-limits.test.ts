import { expect, test } from "bun:test";
import { batchLimits } from "../../src/cassandra/batch-limits.ts";

const settings = (size: [string, string], partitions: string) => [
  { name: size[0], value: size[1] },
  { name: "unlogged_batch_across_partitions_warn_threshold", value: partitions },
];

test("batches stay under the cluster's warn thresholds (4.1+ names and units)", () => {
  // Cassandra's defaults: 10 partitions, 5 KiB (batches held to 4 KiB of the sink's estimate).
  expect(batchLimits(settings(["batch_size_warn_threshold", "5KiB"], "10"), 32)).toMatchObject({ rows: 10, bytes: 4096 });
  // The local stack's: SINK_BATCH_ROWS and 16 KiB bind.
  expect(batchLimits(settings(["batch_size_warn_threshold", "32KiB"], "100"), 32)).toMatchObject({ rows: 32, bytes: 16_384 });
  expect(batchLimits(settings(["batch_size_warn_threshold", "1MiB"], "1000"), 200)).toMatchObject({ rows: 200, bytes: 16_384 });
  expect(batchLimits(settings(["batch_size_warn_threshold", "6000B"], "4"), 32)).toMatchObject({ rows: 4, bytes: 4800 });
});

test("Cassandra 4.0's setting name, in KiB", () => {
  expect(batchLimits(settings(["batch_size_warn_threshold_in_kb", "5"], "10"), 32)).toMatchObject({ rows: 10, bytes: 4096 });
});

test("settings that cannot be read or parsed: Cassandra's defaults are assumed, and said so", () => {
  const none = batchLimits([], 32);
  expect(none).toMatchObject({ rows: 10, bytes: 4096 });
  expect(none.from).toContain("could not be read");
  expect(batchLimits(settings(["batch_size_warn_threshold", "five"], "10"), 32)).toMatchObject({ rows: 10, bytes: 4096 });
  expect(batchLimits(settings(["batch_size_warn_threshold", "5KiB"], "10"), 1)).toMatchObject({ rows: 1 });
});
