import { beforeAll, expect, test } from "bun:test";
import { type Consumer, KafkaJSGroupCoordinatorNotFound } from "kafkajs";
import { KafkaSource } from "../../src/consume/source.ts";
import { until } from "../helpers/events.ts";
import { freshTopic, kafka, requireStack, HOOK_TIMEOUT } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);

test("a message produced to the real Kafka is consumed back", async () => {
  const topic = await freshTopic("it-kafka", 1);
  const producer = kafka().producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: [{ key: "k1", value: "hello kafka" }] });
  await producer.disconnect();

  const consumer = kafka().consumer({ groupId: `${topic}-g` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = await new Promise<{ key: string; value: string }>((done, fail) => {
    const timer = setTimeout(() => fail(new Error("no message within 30s")), 30_000);
    consumer.run({
      eachMessage: async ({ message }) => {
        clearTimeout(timer);
        done({ key: message.key!.toString(), value: message.value!.toString() });
      },
    });
  });
  await consumer.disconnect();
  expect(got).toEqual({ key: "k1", value: "hello kafka" });
});

test("the source starts a crashed consumer again itself when KafkaJS will not (KafkaJSGroupCoordinatorNotFound during a broker restart)", async () => {
  const topic = await freshTopic("it-kafka-crash", 3);
  const N = 3000;
  const producer = kafka().producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: Array.from({ length: N }, (_, i) => ({ key: String(i % 30), value: String(i) })) });
  await producer.disconnect();

  const source = new KafkaSource(kafka(), {
    topic, groupId: `${topic}-g`, maxInFlight: 300, partitionsConcurrently: 3, sessionTimeoutMs: 6000, fetchMaxBytes: 64 * 1024, commitIntervalMs: 100, fetchMinBytes: 1, fetchMaxWaitMs: 100,
  }, () => {});
  let fatal: Error | undefined;
  source.fatal = (e) => (fatal = e);
  const seen = new Set<string>();
  await source.start(async ({ messages }) => {
    for (const m of messages) seen.add(m.value!.toString());
    await Bun.sleep(5);
  });
  await until("some records handled", () => seen.size >= 500, 30_000, 20);
  // What KafkaJS does on a crash it will not restart from: disconnect, then CRASH with restart: false.
  await (source as unknown as { consumer: Consumer }).consumer.disconnect();
  const notFound = new (KafkaJSGroupCoordinatorNotFound as unknown as new (message: string) => Error)("Failed to find group coordinator");
  source.crashed(notFound, false);
  const notReadyMeanwhile = !source.joined; // what /readyz reports
  await until("every record handled after the restart", () => seen.size === N, 60_000, 50);
  await until("the source caught up and joined again", () => source.caughtUp(), 30_000, 50);
  await source.stop(5000);
  expect({ notReadyMeanwhile, fatal, seen: seen.size }).toEqual({ notReadyMeanwhile: true, fatal: undefined, seen: N });
}, 120_000);
