/**
 * `dist/events collect` over real HTTP against the real local Kafka: every body format ends in the topic as the
 * design's Avro keyed by user_id; the limits, bad events, CORS and the write key as a client meets them; Kafka
 * stopped under it (503 + Retry-After, and every event ever acknowledged with 202 is in the topic); SIGTERM.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { KafkaMessage } from "kafkajs";
import { stack } from "../../scripts/stack.ts";
import { userEventType } from "../../src/codec/formats.ts";
import "../../src/kafka/compression.ts"; // the collector compresses with lz4 by default: the test's reader decodes it
import { readTopic, type Running, start, summary, until } from "../helpers/events.ts";
import { freshTopic, HOOK_TIMEOUT, kafka, REGISTRY_URL, requireStack, stackCommand } from "../helpers/stack.ts";

let topic: string;
let collector: Running;
const PORT = 18_000 + Math.floor(Math.random() * 500);
const URL_ = `http://127.0.0.1:${PORT}/v1/events`;
const KEY = "test-write-key";
const ORIGIN = "https://shop.example";

const ev = (o: Record<string, unknown> = {}) => ({ user_id: crypto.randomUUID(), event_type: "CLICK", event_id: crypto.randomUUID(), ...o });
const post = (body: string, type = "application/json", headers: Record<string, string> = {}) =>
  fetch(URL_, { method: "POST", body, headers: { "Content-Type": type, "X-Write-Key": KEY, ...headers } });
const decoded = (m: KafkaMessage) => userEventType.fromBuffer(m.value!) as { user_id: string; event_id: string; event_type: string; event_time: number; metadata: Record<string, string> };

beforeAll(async () => {
  await requireStack();
  topic = await freshTopic("it-collect");
  collector = start("binary", ["collect"], {
    KAFKA_TOPIC: topic, COLLECT_ADDR: `127.0.0.1:${PORT}`, COLLECT_WRITE_KEY: KEY, COLLECT_ALLOWED_ORIGINS: ORIGIN, COLLECT_ACK_TIMEOUT: "2s", LOG_LEVEL: "info",
  });
  await until("the collector to be ready", async () => (await fetch(`http://127.0.0.1:${PORT}/readyz`)).status === 200, 30_000);
}, HOOK_TIMEOUT);

afterAll(async () => {
  collector?.proc.kill("SIGKILL");
  const admin = kafka().admin();
  await admin.connect().then(() => admin.deleteTopics({ topics: [topic] })).catch(() => {});
  await admin.disconnect();
}, HOOK_TIMEOUT);

/** Event ids acknowledged with 202, over the whole file: all of them must be in the topic at the end. */
const acknowledged = new Set<string>();
async function send(events: Record<string, unknown>[], body: string, type?: string) {
  const r = await post(body, type);
  if (r.status === 202) for (const e of events) acknowledged.add(e.event_id as string);
  return r;
}

test("one event, a JSON array, NDJSON and text/plain (sendBeacon): all in Kafka as the design's Avro, keyed by user_id", async () => {
  const one = ev(), arr = [ev(), ev(), ev()], nd = [ev(), ev()], plain = [ev({ event_type: "PAGE_VIEW" }), ev()];
  const noId = { user_id: crypto.randomUUID(), event_type: "LOGIN" };
  const t0 = Date.now();
  const answers = await Promise.all([
    send([one], JSON.stringify(one)), send(arr, JSON.stringify(arr)), send(nd, nd.map((e) => JSON.stringify(e)).join("\n"), "application/x-ndjson"),
    send(plain, JSON.stringify(plain), "text/plain;charset=UTF-8"), post(JSON.stringify(noId), "application/json", { "User-Agent": "it-agent/1.0" }),
  ]);
  expect(answers.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
  expect(await answers[1]!.json()).toEqual({ accepted: 3, rejected: [] });
  const sent = [one, ...arr, ...nd, ...plain];
  const got = await readTopic(topic, sent.length + 1);
  expect(got).toHaveLength(sent.length + 1);
  const byId = new Map(got.map((m) => [decoded(m).event_id, m]));
  for (const e of sent) {
    const m = byId.get(e.event_id)!;
    expect(m.key!.toString()).toBe(e.user_id);
    expect(decoded(m)).toMatchObject({ user_id: e.user_id, event_type: e.event_type });
    expect(decoded(m).event_time).toBeGreaterThanOrEqual(t0); // missing: the receive time
  }
  const assigned = got.map(decoded).find((e) => e.user_id === noId.user_id)!;
  expect(assigned.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/); // assigned by the collector
  expect(assigned.metadata.user_agent).toBe("it-agent/1.0");
  expect(assigned.metadata.client_ip).toBeUndefined(); // COLLECT_RECORD_IP is off
}, 60_000);

test("limits (413), bad events with their indexes and reasons, a wrong write key (401), CORS preflight, another origin (403)", async () => {
  const tooMany = JSON.stringify(Array.from({ length: 501 }, () => ev()));
  const r1 = await post(tooMany);
  expect([r1.status, (await r1.json()).error]).toEqual([413, "501 events in one request; at most 500"]);
  const bigEvent = JSON.stringify([ev(), ev({ metadata: { blob: "x".repeat(33 * 1024) } })]);
  const r2 = await post(bigEvent);
  expect([r2.status, (await r2.json()).error]).toEqual([413, expect.stringMatching(/^event 1 is \d+ bytes; at most 32 KiB per event$/)]);
  const r3 = await post("y".repeat(600 * 1024), "text/plain");
  expect([r3.status, (await r3.json()).error]).toEqual([413, "the request is larger than 512 KiB"]);

  const good = [ev(), ev()];
  const mixed = [good[0]!, { ...ev(), user_id: "not-a-uuid" }, { ...ev(), event_time: "yesterday" }, good[1]!, 42];
  const r4 = await send(good, JSON.stringify(mixed));
  expect(r4.status).toBe(202);
  expect((await r4.json()).rejected).toEqual([
    { index: 1, reason: "invalid_uuid", message: 'user_id is not a UUID: "not-a-uuid"' },
    { index: 2, reason: "wrong_type", message: "event_time is a string, not epoch milliseconds" },
    { index: 4, reason: "not_an_object", message: "an event is a JSON object" },
  ]);
  expect((await post(JSON.stringify([{ ...ev(), event_type: "" }]))).status).toBe(400);

  expect((await post(JSON.stringify(ev()), "application/json", { "X-Write-Key": "wrong" })).status).toBe(401);
  const pre = await fetch(URL_, { method: "OPTIONS", headers: { Origin: ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-write-key" } });
  expect(pre.status).toBe(204);
  expect(pre.headers.get("access-control-allow-origin")).toBe(ORIGIN);
  expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("x-write-key");
  expect((await post(JSON.stringify(ev()), "text/plain", { Origin: "https://elsewhere.example" })).status).toBe(403);
  const metrics = await (await fetch(`${collector.statusUrl}/metrics`)).text();
  expect(metrics).toMatch(/events_collect_rejected_total\{reason="invalid_uuid"\} [1-9]/);
  expect(metrics).toMatch(/events_collect_requests_total\{status="413"\} 3/);
}, 60_000);

test("with SCHEMA_REGISTRY_URL: events are Confluent-framed with the id our schema is registered under", async () => {
  const t = await freshTopic("it-collect-registry");
  const port = PORT + 500;
  const c = start("binary", ["collect"], { KAFKA_TOPIC: t, COLLECT_ADDR: `127.0.0.1:${port}`, SCHEMA_REGISTRY_URL: REGISTRY_URL });
  try {
    await until("the second collector to be ready", async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30_000);
    const e = ev();
    expect((await fetch(`http://127.0.0.1:${port}/v1/events`, { method: "POST", body: JSON.stringify(e) })).status).toBe(202);
    const registered = c.lines.find((l) => l.msg === "schema registered") as { subject: string; id: number };
    expect(registered.subject).toBe(`${t}-value`);
    const [m] = await readTopic(t, 1);
    expect(m!.value![0]).toBe(0); // the magic byte
    expect(m!.value!.readUInt32BE(1)).toBe(registered.id);
    expect(userEventType.fromBuffer(m!.value!.subarray(5))).toMatchObject({ user_id: e.user_id, event_id: e.event_id });
  } finally {
    c.proc.kill("SIGTERM");
    expect(await c.exited).toBe(0);
    const admin = kafka().admin();
    await admin.connect().then(() => admin.deleteTopics({ topics: [t] })).catch(() => {});
    await admin.disconnect();
  }
}, 60_000);

test("Kafka stopped: 503 with Retry-After, /readyz 503; after it returns, a client's resend is taken; every 202 is in the topic", async () => {
  let downAt = 0;
  const refused: Record<string, unknown>[][] = [];
  let readyzDuring = 0;
  try {
    expect(await stack(["down", "kafka"])).toBe(0);
    downAt = Date.now();
    // A client that keeps sending while Kafka is away: each request is answered within the ack timeout (2 s).
    for (let i = 0; i < 4; i++) {
      const batch = [ev(), ev()];
      const t = Date.now();
      const r = await send(batch, JSON.stringify(batch));
      expect([r.status, r.headers.get("retry-after")]).toEqual([503, "2"]);
      expect(Date.now() - t).toBeLessThan(4000);
      refused.push(batch);
      readyzDuring = (await fetch(`http://127.0.0.1:${PORT}/readyz`)).status;
    }
    expect(readyzDuring).toBe(503);
  } finally {
    expect(await stackCommand(["up", "kafka"])).toBe(0);
  }
  const upAt = Date.now();
  // Each refused batch sent again, as the tracker does on a 503, until it is taken.
  for (const batch of refused) {
    await until("a resend to be taken", async () => (await send(batch, JSON.stringify(batch))).status === 202, 90_000, 1000);
  }
  await until("/readyz 200 again", async () => (await fetch(`http://127.0.0.1:${PORT}/readyz`)).status === 200, 30_000);
  // The wait was said in the log, not only in /readyz.
  expect(collector.lines.some((l) => l.level === "warn" && String(l.msg).startsWith("kafka: a send has waited"))).toBe(true);
  console.log(`collect-kafka-down: ${refused.length} requests answered 503 while Kafka was down for ${((upAt - downAt) / 1000).toFixed(1)} s; all resent and taken ${((Date.now() - upAt) / 1000).toFixed(1)} s after it was back`);
}, 240_000);

test("every event acknowledged with 202 in this file is in the topic; SIGTERM stops the collector with exit 0", async () => {
  const all = await readTopic(topic, acknowledged.size, 60_000);
  const ids = new Set(all.map((m) => decoded(m).event_id));
  const missing = [...acknowledged].filter((id) => !ids.has(id));
  console.log(`collect-acknowledged: ${acknowledged.size} acknowledged, ${all.length} records in the topic, ${missing.length} missing`);
  expect(missing).toEqual([]);
  collector.proc.kill("SIGTERM");
  expect(await collector.exited).toBe(0);
  expect(summary(collector).accepted).toBeGreaterThanOrEqual(acknowledged.size);
}, 120_000);
