/** events simulate against the real Kafka: reproducible, every format readable by the pipeline's decoder, paced. */
import { beforeAll, expect, test } from "bun:test";
import type { KafkaMessage } from "kafkajs";
import { decodeEvent } from "../../src/codec/decode.ts";
import { BadRecord } from "../../src/codec/event.ts";
import { readTopic, start, summary } from "../helpers/events.ts";
import { freshTopic, requireStack, runEvents, HOOK_TIMEOUT } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);

function simulate(topic: string, args: string[]) {
  const r = runEvents("source", ["simulate", "--topic", topic, "--status-addr", "off", ...args], {}, 120_000);
  if (r.status !== 0) throw new Error(`simulate exited ${r.status}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

const byPartition = (ms: (KafkaMessage & { partition?: number })[]) => ms.map((m) => m.value!.toString("hex"));

test("two runs with the same --seed and --count send identical values", async () => {
  const args = ["--seed", "1234", "--count", "3000", "--rate", "0", "--out-of-order", "30s", "--late-fraction", "0.01"];
  const [a, b] = [await freshTopic("it-sim-a", 1), await freshTopic("it-sim-b", 1)];
  expect(simulate(a, args).produced).toBe(3000);
  expect(simulate(b, args).produced).toBe(3000);
  const [ma, mb] = [await readTopic(a, 3000), await readTopic(b, 3000)];
  expect(ma).toHaveLength(3000);
  expect(byPartition(ma)).toEqual(byPartition(mb));
  expect(ma.map((m) => m.key!.toString())).toEqual(mb.map((m) => m.key!.toString()));
}, 120_000);

for (const format of ["avro", "confluent", "json"] as const) {
  test(`--format ${format}: the pipeline's decoder reads every record back as a valid event`, async () => {
    const topic = await freshTopic(`it-sim-${format}`, 3);
    simulate(topic, ["--format", format, "--count", "1000", "--rate", "0"]);
    const got = await readTopic(topic, 1000);
    expect(got).toHaveLength(1000);
    const now = Date.now();
    const types = new Set<string>();
    for (const m of got) {
      const e = decodeEvent(m.value, format, now);
      expect(decodeEvent(m.value, "auto", now)).toEqual(e);
      expect(m.key!.toString()).toBe(e.userId);
      expect(e.metadata.session_id).toMatch(/^[0-9a-f-]{36}$/);
      types.add(e.eventType);
    }
    expect(types.has("PAGE_VIEW") && (types.has("LOGIN") || types.has("SIGNUP"))).toBe(true);
  }, 60_000);
}

test("--invalid-fraction produces records the pipeline rejects, and only that many", async () => {
  const topic = await freshTopic("it-sim-invalid", 1);
  const s = simulate(topic, ["--count", "2000", "--rate", "0", "--invalid-fraction", "0.1", "--seed", "9"]);
  const got = await readTopic(topic, 2000);
  let bad = 0;
  for (const m of got) {
    try {
      decodeEvent(m.value, "auto", Date.now());
    } catch (e) {
      if (!(e instanceof BadRecord)) throw e;
      bad++;
    }
  }
  expect(bad).toBe(s.invalid!);
  expect(bad).toBeGreaterThan(100);
  expect(bad).toBeLessThan(300);
}, 60_000);

test("--rate 1000 --duration 30s produces 30,000 ± 5% events, and the status server reports the rate", async () => {
  const topic = await freshTopic("it-sim-rate", 3);
  const run = start("source", ["simulate", "--topic", topic, "--rate", "1000", "--duration", "30s"], {});
  await Bun.sleep(5000);
  const mid = await run.status();
  expect(mid.mode).toBe("simulate");
  expect(Math.abs((mid.rate as number) - 1000)).toBeLessThan(100);
  await Bun.sleep(19_000);
  // Every full 10-second window of the one-second history holds 10,000 ± 5%.
  const history = ((await run.status()).history as { produced: number }[]).slice(1, -1).map((h) => h.produced);
  expect(history.length).toBeGreaterThanOrEqual(20);
  for (let i = 0; i + 10 <= history.length; i++) {
    const sum = history.slice(i, i + 10).reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - 10_000)).toBeLessThanOrEqual(500);
  }
  expect(await run.exited).toBe(0);
  const s = summary(run);
  expect(Math.abs(s.produced! - 30_000)).toBeLessThanOrEqual(1500);
}, 90_000);

test("a topic that does not exist: exit 1 at once, and the error names it", () => {
  const topic = `it-sim-missing-${Date.now()}`;
  const t0 = performance.now();
  const r = runEvents("source", ["simulate", "--topic", topic, "--status-addr", "off", "--count", "10", "--rate", "0"], {}, 60_000);
  expect(r.status).toBe(1);
  // Checked before producing: KafkaJS's producer alone retried for about 13 s before it said so.
  expect(performance.now() - t0).toBeLessThan(8000);
  const failed = JSON.parse(r.stdout.trim().split("\n").pop()!) as { err: string };
  expect(failed.err).toBe(`topic "${topic}" does not exist on 127.0.0.1:9092`);
  expect(r.stderr).toContain(`events simulate: topic "${topic}" does not exist on 127.0.0.1:9092`);
}, 60_000);
