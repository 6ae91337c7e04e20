/**
 * Dead-letter topic: a record that cannot become a row is kept, not dropped. It goes to KAFKA_DLQ_TOPIC
 * with its original key, value and headers, plus headers naming why and where it came from:
 *   dlq.reason        stable class (undecodable, invalid_uuid, …: event.ts BadReason)
 *   dlq.error         what exactly was wrong, for a person
 *   dlq.source.topic / dlq.source.partition / dlq.source.offset / dlq.source.timestamp
 *   dlq.time          when it was dead-lettered (ISO 8601)
 * Sends are acknowledged by all in-sync replicas and retried until they succeed: the source offset is
 * committed only after the dead-letter record is safely in Kafka.
 */
import { type CompressionTypes, type Kafka, type KafkaMessage, type Message, Partitioners, type Producer } from "kafkajs";
import { COMPRESSION, type Compression } from "../kafka/compression.ts";
import type { BadReason } from "../codec/event.ts";
import { log } from "../common/log.ts";
import { metrics } from "../status/metrics.ts";
import { backoff, sleep } from "../common/retry.ts";

export interface DeadLetter {
  message: KafkaMessage;
  topic: string;
  partition: number;
  reason: BadReason;
  detail: string;
}

/** One log line per reason a minute at most, with how many were dead-lettered since the last one. */
const LOG_EVERY_MS = 60_000;

export class DeadLetters {
  private readonly lastLogged = new Map<BadReason, { at: number; suppressed: number }>();

  private constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly compression: CompressionTypes,
  ) {}

  static async open(kafka: Kafka, topic: string, compression: Compression = "none"): Promise<DeadLetters> {
    const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    return new DeadLetters(producer, topic, COMPRESSION[compression]);
  }

  async send(items: DeadLetter[], signal: AbortSignal): Promise<void> {
    if (!items.length) return;
    const now = new Date().toISOString();
    const messages: Message[] = items.map((d) => ({
      key: d.message.key,
      value: d.message.value,
      headers: {
        ...d.message.headers,
        "dlq.reason": d.reason,
        "dlq.error": d.detail.slice(0, 1024),
        "dlq.source.topic": d.topic,
        "dlq.source.partition": String(d.partition),
        "dlq.source.offset": d.message.offset,
        "dlq.source.timestamp": d.message.timestamp,
        "dlq.time": now,
      },
    }));
    // Kafka refuses a request batch over message.max.bytes (1 MiB by default): send in slices under it.
    for (let from = 0; from < messages.length;) {
      let to = from;
      for (let bytes = 0; to < messages.length && (to === from || bytes < 512 * 1024); to++) {
        bytes += (messages[to]!.value?.length ?? 0) + (messages[to]!.key?.length ?? 0) + 512;
      }
      await this.sendSlice(messages.slice(from, to), signal);
      from = to;
    }
    for (const d of items) {
      metrics.deadLettered.inc({ reason: d.reason });
      this.logRateLimited(d);
    }
  }

  private async sendSlice(messages: Message[], signal: AbortSignal): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.producer.send({ topic: this.topic, acks: -1, compression: this.compression, messages });
        return;
      } catch (e) {
        if (attempt % 10 === 0) log.warn({ err: (e as Error).message, attempt }, "dead-letter send failed; retrying");
        await sleep(backoff(attempt), signal);
      }
    }
  }

  private logRateLimited(d: DeadLetter): void {
    const now = Date.now();
    const seen = this.lastLogged.get(d.reason);
    if (seen && now - seen.at < LOG_EVERY_MS) {
      seen.suppressed++;
      return;
    }
    this.lastLogged.set(d.reason, { at: now, suppressed: 0 });
    log.warn({ reason: d.reason, error: d.detail, topic: d.topic, partition: d.partition, offset: d.message.offset,
      sameReasonSinceLastLine: seen?.suppressed ?? 0 }, "record dead-lettered");
  }

  async close(): Promise<void> {
    await this.producer.disconnect().catch(() => {});
  }
}
