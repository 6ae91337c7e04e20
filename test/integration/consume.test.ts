/**
 * events consume end to end, on the real local Kafka and Cassandra: every event stored exactly once with
 * every field intact, replays idempotent, all three formats, bad input dead-lettered with its reason.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode } from "../../src/codec/encode.ts";
import { bucketDate } from "../../src/codec/rules.ts";
import { asAvro, consumeAll, header, isolatedPipeline, makeEvents, produce, readRows, readTopic, type Row, summary, type TestEvent } from "../helpers/events.ts";
import { kafka, requireStack, HOOK_TIMEOUT } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

const N = 50_000;
// Yesterday's UTC midnight, with events from 5 minutes before to 5 minutes after it.
const midnight = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000;
const events = makeEvents(N, { seed: 42, start: midnight - 300_000, stepMs: 600_000 / N, jitterMs: 90_000 });

function expectStored(rows: Map<string, Row>, expected: TestEvent[]): void {
  expect(rows.size).toBe(expected.length);
  let mismatches = 0;
  for (const e of expected) {
    const r = rows.get(e.event_id);
    const same = r && r.user_id === e.user_id && r.event_type === e.event_type && r.event_time === e.event_time &&
      r.bucket_date === bucketDate(e.event_time) && JSON.stringify(r.metadata) === JSON.stringify(e.metadata);
    if (!same && mismatches++ < 3) console.error("mismatch", e, r);
  }
  expect(mismatches).toBe(0);
}

describe.each(["source", "binary"] as const)("with %s", (how) => {
  test(`${N} out-of-order events over 3 partitions: exactly ${N} rows, every field intact, across a UTC midnight`, async () => {
    const p = await isolatedPipeline(`it-e2e-${how}`);
    drops.push(p.drop);
    await produce(p.topic, asAvro(events));
    const run = await consumeAll(how, p.env);
    const s = summary(run);
    expect(s.consumed).toBe(N);
    expect(s.written).toBe(N);
    expect(s.deadLettered).toBe(0);
    expect(s.late).toBe(0); // 90 s of jitter is within the 2-minute bound
    const rows = await readRows(p.keyspace);
    expectStored(rows, events);
    const dates = new Set([...rows.values()].map((r) => r.bucket_date));
    expect(dates).toEqual(new Set([bucketDate(midnight - 1), bucketDate(midnight)]));

    // Replay: reset the group's offsets to the start; still exactly N rows.
    const admin = kafka().admin();
    await admin.connect();
    await admin.resetOffsets({ groupId: p.env.KAFKA_GROUP_ID!, topic: p.topic, earliest: true });
    await admin.disconnect();
    const replay = await consumeAll(how, p.env);
    expect(summary(replay).consumed).toBe(N);
    expectStored(await readRows(p.keyspace), events);
  }, 300_000);
});

test("JSON (the seed's shape), plain Avro and Confluent-framed Avro in one topic are all stored", async () => {
  const p = await isolatedPipeline("it-formats");
  drops.push(p.drop);
  const evs = makeEvents(3000, { seed: 7, start: Date.now() - 60_000, stepMs: 10, jitterMs: 5000 });
  const formats = ["json", "avro", "confluent"] as const;
  await produce(p.topic, evs.map((e, i) => ({ key: e.user_id, value: encode(e, formats[i % 3]!) })));
  const s = summary(await consumeAll("source", p.env));
  expect(s.written).toBe(3000);
  expectStored(await readRows(p.keyspace), evs);
});

test("bad input goes to the dead-letter topic with its reason and source; every good event is stored", async () => {
  const p = await isolatedPipeline("it-bad");
  drops.push(p.drop);
  const good = makeEvents(2000, { seed: 9, start: Date.now() - 60_000, stepMs: 10, jitterMs: 1000 });
  const base = good[0]!;
  const avro = encode(base, "avro");
  const bad: { value: Buffer; reason: string }[] = [
    { value: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]), reason: "undecodable" },
    { value: avro.subarray(0, avro.length - 4), reason: "undecodable" },
    { value: Buffer.from('{"user_id": "nope"'), reason: "undecodable" },
    { value: encode({ ...base, event_id: "not-a-uuid" }, "avro"), reason: "invalid_uuid" },
    { value: Buffer.from(JSON.stringify({ ...base, user_id: "123" })), reason: "invalid_uuid" },
    { value: Buffer.from(JSON.stringify({ user_id: base.user_id, event_type: "CLICK", event_id: base.event_id })), reason: "missing_field" },
    { value: Buffer.from(JSON.stringify({ ...base, event_time: "yesterday" })), reason: "wrong_type" },
    { value: Buffer.from(JSON.stringify({ ...base, metadata: { nested: { a: 1 } } })), reason: "invalid_metadata" },
    { value: encode({ ...base, metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) }, "avro"), reason: "invalid_metadata" },
    { value: encode({ ...base, event_time: Date.now() + 7 * 86_400_000 }, "confluent"), reason: "invalid_event_time" },
    { value: encode({ ...base, event_type: "" }, "json"), reason: "invalid_event_type" },
  ];
  const messages = asAvro(good);
  bad.forEach((b, i) => messages.splice(100 + i * 150, 0, { key: `bad-${i}`, value: b.value }));
  await produce(p.topic, messages);
  const s = summary(await consumeAll("source", p.env));
  expect(s.consumed).toBe(good.length + bad.length);
  expect(s.written).toBe(good.length);
  expect(s.deadLettered).toBe(bad.length);
  expectStored(await readRows(p.keyspace), good);

  const dead = await readTopic(p.dlq, bad.length);
  expect(dead).toHaveLength(bad.length);
  for (const d of dead) {
    const i = Number(d.key!.toString().slice(4));
    expect(d.value!.equals(bad[i]!.value)).toBe(true); // the original bytes
    expect(header(d, "dlq.reason")).toBe(bad[i]!.reason);
    expect(header(d, "dlq.source.topic")).toBe(p.topic);
    expect(Number(header(d, "dlq.source.partition"))).toBeGreaterThanOrEqual(0);
    expect(Number(header(d, "dlq.source.offset"))).toBeGreaterThanOrEqual(0);
    expect(header(d, "dlq.error")!.length).toBeGreaterThan(0);
    expect(Date.parse(header(d, "dlq.time")!)).toBeGreaterThan(0);
  }
}, 120_000);
