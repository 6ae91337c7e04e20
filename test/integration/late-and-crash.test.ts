/**
 * Watermarks on the real stack (late events under each LATE_EVENTS policy), SIGTERM, and a SIGKILL
 * mid-stream followed by a restart: every event stored exactly once.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { encode } from "../../src/codec/encode.ts";
import { asAvro, consumeAll, header, isolatedPipeline, makeEvents, produce, readRows, readTopic, start, summary, until } from "../helpers/events.ts";
import { requireStack, HOOK_TIMEOUT } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

for (const policy of ["store", "dlq", "drop"] as const) {
  test(`events 3 minutes behind the watermark are counted late and, with LATE_EVENTS=${policy}, ${policy === "store" ? "stored" : policy === "dlq" ? "dead-lettered" : "dropped"}`, async () => {
    const p = await isolatedPipeline(`it-late-${policy}`);
    drops.push(p.drop);
    const now = Date.now();
    // On time: 100 per partition, so that every partition has a watermark.
    const onTime = makeEvents(300, { seed: 1, start: now - 10_000, stepMs: 10, jitterMs: 2000 });
    await produce(p.topic, onTime.map((e, i) => ({ key: e.user_id, value: encode(e, "avro"), partition: i % 3 })));
    const run = start("source", ["consume"], { ...p.env, LATE_EVENTS: policy });
    try {
      await until("the on-time events to be written and the watermark set", async () => {
        const s = await run.status();
        return s.written === 300 && typeof s.watermark === "number";
      });
      const late = makeEvents(30, { seed: 2, start: now - 180_000 - 5_000, stepMs: 100, jitterMs: 0 });
      await produce(p.topic, late.map((e, i) => ({ key: e.user_id, value: encode(e, "avro"), partition: i % 3 })));
      await until("the late events to be consumed", async () => (await run.status()).consumed === 330);
      await until("nothing in flight", async () => (await run.status()).inFlight === 0);
      run.proc.kill("SIGTERM");
      expect(await run.exited).toBe(0);
      const s = summary(run);
      expect(s.late).toBe(30);
      const rows = await readRows(p.keyspace);
      expect(rows.size).toBe(policy === "store" ? 330 : 300);
      if (policy === "dlq") {
        const dead = await readTopic(p.dlq, 30);
        expect(dead).toHaveLength(30);
        expect(dead.every((d) => header(d, "dlq.reason") === "late")).toBe(true);
      }
      if (policy !== "dlq") expect(s.deadLettered).toBe(0);
    } finally {
      run.proc.kill("SIGKILL");
    }
  }, 120_000);
}

test("a consumer killed with SIGKILL mid-stream and restarted stores every event exactly once", async () => {
  const p = await isolatedPipeline("it-kill");
  drops.push(p.drop);
  const N = 30_000;
  const events = makeEvents(N, { seed: 5, start: Date.now() - 600_000, stepMs: 10, jitterMs: 30_000 });
  await produce(p.topic, asAvro(events));
  const first = start("source", ["consume"], p.env);
  await until("a third of the events to be written", async () => ((await first.status()).written as number) >= N / 3, 90_000, 50);
  first.proc.kill("SIGKILL");
  await first.exited;
  const second = await consumeAll("source", p.env);
  expect(summary(second).consumed).toBeGreaterThan(0);
  const rows = await readRows(p.keyspace); // throws on duplicate event ids
  expect(rows.size).toBe(N);
  for (const e of events) expect(rows.get(e.event_id)?.event_time).toBe(e.event_time);
}, 180_000);
