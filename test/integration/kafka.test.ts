import { beforeAll, expect, test } from "bun:test";
import { freshTopic, kafka, requireStack } from "../helpers/stack.ts";

beforeAll(requireStack);

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
