import { afterAll, beforeAll, expect, test } from "bun:test";
import { cassandraClient, freshKeyspace, freshTopic, kafka, requireStack, runEvents, HOOK_TIMEOUT } from "../helpers/stack.ts";

const keyspace = freshKeyspace("it_bin");
beforeAll(requireStack, HOOK_TIMEOUT);
afterAll(async () => {
  const c = cassandraClient();
  await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  await c.shutdown();
}, HOOK_TIMEOUT);

test("the compiled binary prints usage with every command", () => {
  const r = runEvents("binary", ["--help"]);
  expect(r.status).toBe(0);
  for (const cmd of ["consume", "simulate", "migrate"]) expect(r.stdout).toContain(cmd);
  const c = runEvents("binary", ["consume", "--help"]);
  expect(c.status).toBe(0);
  for (const env of ["KAFKA_BROKERS", "WATERMARK_OUT_OF_ORDERNESS", "LATE_EVENTS", "STATUS_ADDR"]) expect(c.stdout).toContain(env);
});

test("a bad setting exits 2 with one clear line naming it", () => {
  const r = runEvents("binary", ["consume"], { WATERMARK_OUT_OF_ORDERNESS: "two minutes" });
  expect(r.status).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.trim().split("\n")).toEqual([
    'events consume: invalid WATERMARK_OUT_OF_ORDERNESS: "two minutes"; allowed: a duration like 500ms, 30s, 2m, 1h, 30d',
  ]);
});

test("the binary migrates the real Cassandra", async () => {
  const r = runEvents("binary", ["migrate"], { CASSANDRA_KEYSPACE: keyspace });
  expect(r.status).toBe(0);
  const c = cassandraClient();
  const rs = await c.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [keyspace]);
  await c.shutdown();
  expect(rs.rows.map((x) => x.table_name).sort()).toEqual(["event_windows", "user_events"]);
});

test("a secret in a bad setting is never echoed", () => {
  const r = runEvents("binary", ["consume"], { KAFKA_SASL_MECHANISM: "plain", KAFKA_SASL_PASSWORD: "hunter2", LATE_EVENTS: "nope" });
  expect(r.status).toBe(2);
  expect(r.stderr + r.stdout).not.toContain("hunter2");
});

test("simulate and consume through the binary write nothing to stderr (no TimeoutNegativeWarning from KafkaJS's request queue)", async () => {
  // Unpatched, KafkaJS scheduled a timer in -1 - Date.now() ms on every connection and Bun warned on stderr;
  // the patch's request-queue hunk is what keeps stderr clean now (there is no setTimeout shim any more).
  const topic = await freshTopic("it-bin-stderr", 3);
  const sim = runEvents("binary", ["simulate", "--topic", topic, "--count", "3000", "--rate", "1000", "--status-addr", "off"]);
  expect([sim.status, sim.stderr]).toEqual([0, ""]);
  const con = runEvents("binary", ["consume", "--topic", topic, "--group-id", `${topic}-g`, "--exit-when-idle", "3s", "--status-addr", "off"],
    { CASSANDRA_KEYSPACE: keyspace });
  expect([con.status, con.stderr]).toEqual([0, ""]);
  expect(con.stdout).toContain('"written":3000');
  const admin = kafka().admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
}, 60_000);
