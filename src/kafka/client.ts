/** One configured KafkaJS client, shared by consume (source, dead-letter) and simulate. */
import { Kafka, logLevel, type Producer, type SASLOptions } from "kafkajs";
import { classify, kafkaType, type Origin, Stop } from "../common/failure.ts";
import type { Config } from "../cli/config.ts";
import { log } from "../common/log.ts";
// Every client reads (and can write) snappy, lz4 and zstd batches, not only gzip.
import "./compression.ts";

export type KafkaSettings = Pick<Config, "brokers" | "kafkaSsl" | "saslMechanism" | "saslUsername" | "saslPassword">;

const LEVELS: Record<number, "error" | "warn" | "info" | "debug"> = {
  [logLevel.ERROR]: "error", [logLevel.WARN]: "warn", [logLevel.INFO]: "info", [logLevel.DEBUG]: "debug",
};

export function kafkaClient(cfg: KafkaSettings, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: cfg.brokers,
    ssl: cfg.kafkaSsl,
    sasl: cfg.saslMechanism
      ? ({ mechanism: cfg.saslMechanism, username: cfg.saslUsername, password: cfg.saslPassword } as SASLOptions)
      : undefined,
    connectionTimeout: 5000,
    requestTimeout: 30_000,
    // A client gives up after about 15 s (so that a wrong address fails at start-up with a clear line);
    // the consumer has its own, longer retry, and the pipeline waits out outages on top of both.
    retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 6 },
    logLevel: logLevel.WARN,
    // KafkaJS logs through ours: JSON lines, and never the SASL password (it is not in its log entries).
    logCreator: () => ({ namespace, level, label: _label, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry as Record<string, unknown>;
      // The dead-letter topic's write probe is answered so on purpose (src/consume/deadletter.ts): not an error.
      if (String(rest.error ?? message).includes("invalid value for required acks")) return;
      log[LEVELS[level] ?? "info"]({ kafkajs: namespace, ...rest }, String(message));
    },
  });
}

/** Turn KafkaJS's connection errors into one line a person can act on. */
export function describeKafkaError(e: unknown, cfg: KafkaSettings & { topic?: string }): string {
  const msg = (e as Error)?.message ?? String(e);
  if (cfg.topic && /does not host this topic-partition|UNKNOWN_TOPIC/i.test(msg)) return missingTopic(cfg.topic, cfg);
  if (/SASL|authenticat/i.test(msg)) return `Kafka at ${cfg.brokers.join(",")} rejected the SASL authentication (${msg}); check KAFKA_SASL_* and KAFKA_SSL`;
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|Connection (error|timeout)|connect/i.test(msg)) {
    return `cannot reach Kafka at ${cfg.brokers.join(",")} (${msg}); check KAFKA_BROKERS`;
  }
  return msg;
}

export function missingTopic(topic: string, cfg: KafkaSettings): string {
  return `topic "${topic}" does not exist on ${cfg.brokers.join(",")}`;
}

/**
 * Throws (with that line) unless the topic exists: asked once, at start, because a producer sending to a
 * missing topic retries its metadata for about 13 s before it says so.
 */
export async function requireTopic(kafka: Kafka, topic: string, cfg: KafkaSettings, setting?: string): Promise<void> {
  const admin = kafka.admin();
  let topics: string[];
  try {
    await admin.connect();
    topics = await admin.listTopics();
  } catch (e) {
    throw new Error(describeKafkaError(e, cfg));
  } finally {
    await admin.disconnect().catch(() => {});
  }
  if (!topics.includes(topic)) throw new Error(`${missingTopic(topic, cfg)}${setting ? `: create it, or set ${setting}` : ""}`);
}

/**
 * Throws a Stop unless this principal may write to the topic, without writing to it: the broker authorizes WRITE
 * before it looks at the request, and then refuses acks=2 (only -1, 0 and 1 exist) with INVALID_REQUIRED_ACKS
 * before appending anything. That answer means writable; TOPIC_AUTHORIZATION_FAILED means not. (The producer must
 * not be idempotent: KafkaJS refuses acks other than -1 for one.)
 */
export async function probeWrite(producer: Producer, topic: string, from: Origin, setting: string): Promise<void> {
  try {
    await producer.send({ topic, acks: 2, messages: [{ value: "events: write probe (never appended)" }] });
  } catch (e) {
    if (kafkaType(e) === "INVALID_REQUIRED_ACKS") return;
    const v = classify(from, e);
    if (v.action === "stop") throw new Stop(`${setting} "${topic}" is not writable: ${v.line}`);
    throw e;
  }
  // Not refused: a broker that took acks=2 has appended the probe. Harmless (decoded as undecodable) but said.
  log.warn({ topic }, "the topic's broker accepted the write probe (acks=2); one probe record was appended");
}
