import { describe, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import type { StoredEvent } from "../../src/codec/event.ts";
import { RowWriter } from "../../src/codec/row.ts";

const writer = new RowWriter(1024);
const rowValues = (e: StoredEvent) => writer.values(e);

// The driver's own encoder is the reference: our bytes must be exactly what it would send.
// (exported by the driver's index.js, though its typings leave it out)
const { Encoder } = cassandra as unknown as { Encoder: new (version: number, options: object) => { encode(v: unknown, t: unknown): Buffer } };
const encoder = new Encoder(4, {});
const { dataTypes } = cassandra.types;
const TYPES = [
  { code: dataTypes.uuid },
  { code: dataTypes.date },
  { code: dataTypes.timestamp },
  { code: dataTypes.text },
  { code: dataTypes.uuid },
  { code: dataTypes.map, info: [{ code: dataTypes.text }, { code: dataTypes.text }] },
];

function driverValues(e: StoredEvent): Buffer[] {
  const values = [e.userId, cassandra.types.LocalDate.fromString(e.bucketDate), new Date(e.eventTime), e.eventType, e.eventId, e.metadata];
  return values.map((v, i) => encoder.encode(v, TYPES[i] as never) as Buffer);
}

const base: StoredEvent = {
  userId: "0b7e4c52-6f0e-4b8a-9a53-2f1f4d3c2a10",
  eventType: "PAGE_VIEW",
  eventTime: Date.parse("2026-11-22T23:59:59.999Z"),
  eventId: "6a1d4c0e-8b2f-4e71-b9c4-1e2d3f4a5b6c",
  metadata: { page: "/home", device: "mobile" },
  bucketDate: "2026-11-22",
};

describe("rowValues: the INSERT's values serialized as the driver would", () => {
  const cases: [string, StoredEvent][] = [
    ["a typical event", base],
    ["no metadata", { ...base, metadata: {} }],
    ["non-ASCII text in type, keys and values", { ...base, eventType: "CLICK_é", metadata: { "clé": "valeur ✓ 😀", "": "" } }],
    ["an old date and a large timestamp", { ...base, eventTime: 946_684_800_000, bucketDate: "2000-01-01" }],
    ["a timestamp past 2^32 seconds", { ...base, eventTime: 2 ** 42 + 12345, bucketDate: "2109-05-15" }],
    ["upper-case hex digits", { ...base, userId: "ABCDEF00-1234-5678-9ABC-DEF012345678" }],
    ["many long metadata values", { ...base, metadata: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "x".repeat(2048)])) }],
  ];
  for (const [name, e] of cases) {
    test(name, () => {
      expect(rowValues(e).map((b) => b.toString("hex"))).toEqual(driverValues(e).map((b) => b.toString("hex")));
    });
  }

  test("rows written one after another do not overwrite each other, also when the buffer grows", () => {
    const events = Array.from({ length: 5000 }, (_, i) => ({ ...base, eventTime: base.eventTime + i, metadata: { n: String(i).repeat(20) } }));
    const values = events.map(rowValues);
    events.forEach((e, i) => expect(values[i]!.map((b) => b.toString("hex"))).toEqual(driverValues(e).map((b) => b.toString("hex"))));
  });
});

test("partitionKey: (user_id, bucket_date) as Cassandra hashes a composite key", async () => {
  const { partitionKey } = await import("../../src/cassandra/sink.ts");
  const expected = Buffer.concat([
    Buffer.from([0, 16]), Buffer.from(base.userId.replaceAll("-", ""), "hex"), Buffer.from([0]),
    Buffer.from([0, 4]), cassandra.types.LocalDate.fromString(base.bucketDate).toBuffer(), Buffer.from([0]),
  ]);
  expect(partitionKey(base.userId, base.bucketDate).toString("hex")).toBe(expected.toString("hex"));
});

describe("statementsFor: what each row is written with", async () => {
  const { statementsFor } = await import("../../src/cassandra/sink.ts");
  const { RowWriter } = await import("../../src/codec/row.ts");
  const base = { userId: "0b7e4c52-6f0e-4b8a-9a53-2f1f4d3c2a10", eventType: "CLICK", eventTime: 1_764_000_000_000, eventId: "6a1d4c0e-8b2f-4e71-b9c4-1e2d3f4a5b6c", bucketDate: "2025-11-24" };
  const w = new RowWriter();
  test("append: metadata by UPDATE … metadata + ?, the map first, then the key in the WHERE's order", () => {
    const v = w.values({ ...base, metadata: { page: "/p" } });
    const s = statementsFor("append", 0).of(v);
    expect(s.query).toBe("UPDATE user_events SET metadata = metadata + ? WHERE user_id = ? AND bucket_date = ? AND event_time = ? AND event_type = ? AND event_id = ?");
    expect(s.params).toEqual([v[5]!, v[0]!, v[1]!, v[2]!, v[3]!, v[4]!]);
  });
  test("append: no metadata, an INSERT of the key columns only (no map, no tombstone)", () => {
    const v = w.values({ ...base, metadata: {} });
    const s = statementsFor("append", 0).of(v);
    expect(s.query).toBe("INSERT INTO user_events (user_id, bucket_date, event_time, event_type, event_id) VALUES (?, ?, ?, ?, ?)");
    expect(s.params).toEqual(v.slice(0, 5));
  });
  test("insert: the seed's INSERT; a TTL goes into either", () => {
    const v = w.values({ ...base, metadata: { a: "b" } });
    expect(statementsFor("insert", 0).of(v)).toEqual({
      query: "INSERT INTO user_events (user_id, bucket_date, event_time, event_type, event_id, metadata) VALUES (?, ?, ?, ?, ?, ?)", params: v,
    });
    expect(statementsFor("insert", 86_400).of(v).query).toEndWith(" USING TTL 86400");
    expect(statementsFor("append", 86_400).of(v).query).toStartWith("UPDATE user_events USING TTL 86400 SET metadata = metadata + ?");
    expect(statementsFor("append", 60).of(w.values({ ...base, metadata: {} })).query).toEndWith("VALUES (?, ?, ?, ?, ?) USING TTL 60");
  });
});
