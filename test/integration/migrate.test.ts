import { afterAll, beforeAll, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { loadConfig } from "../../src/cli/config.ts";
import { CassandraSink } from "../../src/cassandra/sink.ts";
import { cassandraClient, freshKeyspace, requireStack, runEvents, HOOK_TIMEOUT } from "../helpers/stack.ts";

const keyspace = freshKeyspace("it_migrate");
beforeAll(requireStack, HOOK_TIMEOUT);
afterAll(async () => {
  const c = cassandraClient();
  await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  await c.shutdown();
}, HOOK_TIMEOUT);

test("migrate twice, then a row is written and read back", async () => {
  for (let i = 0; i < 2; i++) {
    const r = runEvents("source", ["migrate", "--keyspace", keyspace]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("migrate done");
  }
  const c = cassandraClient(keyspace);
  const row = {
    user_id: cassandra.types.Uuid.random(),
    bucket_date: cassandra.types.LocalDate.fromString("2026-11-22"),
    event_time: new Date("2026-11-22T10:00:00.123Z"),
    event_type: "CLICK",
    event_id: cassandra.types.Uuid.random(),
    metadata: { page: "/home" },
  };
  await c.execute(
    "INSERT INTO user_events (user_id, bucket_date, event_time, event_type, event_id, metadata) VALUES (?, ?, ?, ?, ?, ?)",
    Object.values(row), { prepare: true });
  const rs = await c.execute("SELECT * FROM user_events WHERE user_id = ? AND bucket_date = ?",
    [row.user_id, row.bucket_date], { prepare: true });
  await c.shutdown();
  expect(rs.rowLength).toBe(1);
  const got = rs.first();
  expect(got.event_id.toString()).toBe(row.event_id.toString());
  expect(got.event_time.toISOString()).toBe("2026-11-22T10:00:00.123Z");
  expect(got.metadata).toEqual({ page: "/home" });
});

test("the keyspace replication setting reaches the keyspace", async () => {
  const ks = freshKeyspace("it_repl");
  const r = runEvents("source", ["migrate", "--keyspace", ks, "--replication", "NetworkTopologyStrategy:datacenter1=1"]);
  expect(r.status).toBe(0);
  const c = cassandraClient();
  const rs = await c.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", [ks]);
  await c.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
  await c.shutdown();
  expect(rs.first().replication.class).toContain("NetworkTopologyStrategy");
  expect(rs.first().replication.datacenter1).toBe("1");
});

test("the sink sizes its batches under the cluster's batch warn thresholds, read from Cassandra's settings", async () => {
  // The local stack sets batch_size_warn_threshold 32KiB and unlogged_batch_across_partitions_warn_threshold
  // 100 (stack/cassandra): SINK_BATCH_ROWS (32) and the sink's own 16 KiB bind. With Cassandra's defaults
  // (5KiB, 10) they would be 10 rows and 4 KiB (test/unit/batch-limits.test.ts).
  const sink = await CassandraSink.open({ ...loadConfig("consume", [], {}), keyspace });
  try {
    expect(sink.limits).toEqual({ rows: 32, bytes: 16 * 1024 });
  } finally {
    await sink.close();
  }
});
