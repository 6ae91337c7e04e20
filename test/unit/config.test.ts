import { expect, test } from "bun:test";
import { ConfigError, loadConfig, parseDuration, redacted } from "../../src/cli/config.ts";
import { schemaStatements } from "../../src/cassandra/migrate.ts";

test("durations", () => {
  expect(parseDuration("500ms")).toBe(500);
  expect(parseDuration("30s")).toBe(30_000);
  expect(parseDuration("2m")).toBe(120_000);
  expect(parseDuration("1h")).toBe(3_600_000);
  expect(parseDuration("0")).toBe(0);
  expect(() => parseDuration("2 minutes")).toThrow();
});

test("defaults are the design's", () => {
  const c = loadConfig("consume", [], {});
  expect(c.brokers).toEqual(["127.0.0.1:9092"]);
  expect(c.topic).toBe("user-events");
  expect(c.groupId).toBe("events-consumer");
  expect(c.dlqTopic).toBe("user-events.dlq");
  expect(c.format).toBe("auto");
  expect(c.keyspace).toBe("event_streaming");
  expect(c.outOfOrderness).toBe(120_000);
  expect(c.idleTimeout).toBe(30_000);
  expect(c.lateEvents).toBe("store");
  expect(c.statusAddr).toEqual({ host: "127.0.0.1", port: 9464 });
});

test("a flag wins over its env var", () => {
  const c = loadConfig("consume", ["--topic", "from-flag"], { KAFKA_TOPIC: "from-env" });
  expect(c.topic).toBe("from-flag");
});

test("bad values name the setting, the value and what is allowed", () => {
  expect(() => loadConfig("consume", [], { LATE_EVENTS: "keep" })).toThrow(
    new ConfigError('invalid LATE_EVENTS: "keep"; allowed: store | dlq | drop'));
  expect(() => loadConfig("consume", ["--brokers", "nohost"], {})).toThrow(/--brokers \(KAFKA_BROKERS\): "nohost"/);
  expect(() => loadConfig("consume", ["--rate", "5"], {})).toThrow(ConfigError); // simulate's flag
});

test("secrets are redacted", () => {
  const c = loadConfig("consume", [], { KAFKA_SASL_PASSWORD: "s3cret", CASSANDRA_PASSWORD: "pw" });
  const r = JSON.stringify(redacted(c, "consume"));
  expect(r).not.toContain("s3cret");
  expect(r).not.toContain('"pw"');
});

test("replication short forms become CQL maps", () => {
  expect(loadConfig("migrate", ["--replication", "NetworkTopologyStrategy:dc1=3,dc2=2"], {}).replication)
    .toBe("{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}");
  const st = schemaStatements("ks1", "{'class': 'SimpleStrategy', 'replication_factor': 1}");
  expect(st).toHaveLength(3);
  expect(st[1]).toContain("PRIMARY KEY ((user_id, bucket_date), event_time, event_type, event_id)");
  expect(st[2]).toContain("PRIMARY KEY ((window_date), window_ms, event_type, window_start, kafka_partition)");
});

test("every setting is documented with its flag and default (README or docs/)", async () => {
  const { SETTINGS } = await import("../../src/cli/config.ts");
  const docs = (await Promise.all(["README.md", "docs/operations.md", "docs/simulating.md", "docs/windows.md", "docs/collect.md"]
    .map((f) => Bun.file(new URL(`../../${f}`, import.meta.url)).text()))).join("\n");
  const rows = docs.split("\n").filter((l) => l.startsWith("| `"));
  const missing = Object.values(SETTINGS).filter((st) => !rows.some((r) => r.includes(`\`${st.env}\``) && r.includes(`--${st.flag}`)));
  expect(missing.map((st) => st.env)).toEqual([]);
});

test("redrive's filters and its switch flag", () => {
  const c = loadConfig("redrive", ["--reason", "invalid_event_time, late", "--source-offsets", "0:10-20,2:5-5", "--since", "2026-12-01T00:00:00Z", "--dry-run"], {});
  expect(c.reasons).toEqual(["invalid_event_time", "late"]);
  expect(c.sourceOffsets).toEqual([{ partition: 0, first: 10, last: 20 }, { partition: 2, first: 5, last: 5 }]);
  expect(c.since).toBe(Date.parse("2026-12-01T00:00:00Z"));
  expect(c.until).toBeNull();
  expect(c.dryRun).toBe(true);
  expect(loadConfig("redrive", [], {}).dryRun).toBe(false);
  expect(() => loadConfig("redrive", ["--source-offsets", "0:20-10"], {})).toThrow(ConfigError);
  expect(() => loadConfig("redrive", ["--since", "yesterday"], {})).toThrow(ConfigError);
});

test("a window of less than a second is refused with what is allowed", () => {
  expect(() => loadConfig("consume", ["--window-size", "0"], {})).toThrow(/--window-size.*at least 1s/);
  expect(loadConfig("consume", [], { WINDOW_SIZE: "5m" }).windowSize).toBe(300_000);
});
