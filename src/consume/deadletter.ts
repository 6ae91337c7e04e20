/**
 * Dead-letter topic: a record that cannot become a row is kept, not dropped. It goes to KAFKA_DLQ_TOPIC
 * with its original key, value and headers, plus headers naming why and where it came from:
 *   dlq.reason        stable class (undecodable, invalid_uuid, …: event.ts BadReason)
 *   dlq.error         what exactly was wrong, for a person
 *   dlq.source.topic / dlq.source.partition / dlq.source.offset / dlq.source.timestamp
 *   dlq.time          when it was dead-lettered (ISO 8601)
 * and, for a record too large for the topic once those headers are added (MESSAGE_TOO_LARGE), its value cut
 * to fit and headers saying so:
 *   dlq.truncated = "true", dlq.original.size (bytes), dlq.original.sha256 (hex, of the whole original value)
 * Sends are acknowledged by all in-sync replicas; the source offset is committed only after the dead-letter
 * record is safely in Kafka. Errors follow the failure policy (src/common/failure.ts): outages are retried
 * with backoff, a wrong deployment (denied ACL, missing topic) stops the process.
 */
import { type CompressionTypes, ConfigResourceTypes, type Kafka, type KafkaMessage, type Message, Partitioners, type Producer } from "kafkajs";
import { COMPRESSION, type Compression } from "../kafka/compression.ts";
import type { BadReason } from "../codec/event.ts";
import { log } from "../common/log.ts";
import { metrics } from "../status/metrics.ts";
import { backoff, sleep } from "../common/retry.ts";
import { classify, Stop } from "../common/failure.ts";
import { describeKafkaError, type KafkaSettings, probeWrite } from "../kafka/client.ts";

/** The headers a dead letter gains here (redrive removes them again before it re-sends the original). */
export const TRUNCATED = "dlq.truncated";
export const ADDED_HEADERS: readonly string[] = [
  "dlq.reason", "dlq.error", "dlq.source.topic", "dlq.source.partition", "dlq.source.offset", "dlq.source.timestamp", "dlq.time",
  TRUNCATED, "dlq.original.size", "dlq.original.sha256", "dlq.headers.dropped",
];

export interface DeadLetter {
  message: KafkaMessage;
  topic: string;
  partition: number;
  reason: BadReason;
  detail: string;
}

/** One log line per reason a minute at most, with how many were dead-lettered since the last one. */
const LOG_EVERY_MS = 60_000;
/** Kafka's default max.message.bytes, assumed when the topic's setting cannot be read. */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** Room left for the record batch's and record's own framing (about 70 bytes of it) and header varints. */
const FRAMING_BYTES = 1024;

export class DeadLetters {
  private readonly lastLogged = new Map<BadReason, { at: number; suppressed: number }>();

  private constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly compression: CompressionTypes,
    /** The topic's max.message.bytes: the largest record batch it takes. */
    readonly maxMessageBytes: number,
  ) {}

  /**
   * Connect, read the topic's size limit and check that this principal may write to the topic: a wrong
   * deployment is said at start-up (throws Stop), not at the first bad record.
   */
  static async open(kafka: Kafka, topic: string, compression: Compression, cfg: KafkaSettings): Promise<DeadLetters> {
    const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const dl = new DeadLetters(producer, topic, COMPRESSION[compression], await maxMessageBytes(kafka, topic));
    try {
      await probeWrite(producer, topic, "dead-letter producer", "KAFKA_DLQ_TOPIC");
    } catch (e) {
      await producer.disconnect().catch(() => {});
      throw e instanceof Stop ? e : new Error(describeKafkaError(e, cfg));
    }
    return dl;
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
    // Kafka refuses a request batch over max.message.bytes (1 MiB by default): send in slices under half of it,
    // each record first cut to fit on its own.
    const fitted = messages.map((m) => truncateToFit(m, this.maxMessageBytes - FRAMING_BYTES));
    for (let from = 0; from < fitted.length;) {
      let to = from;
      for (let bytes = 0; to < fitted.length && (to === from || bytes < this.maxMessageBytes / 2); to++) bytes += messageBytes(fitted[to]!);
      await this.sendSlice(fitted.slice(from, to), signal);
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
        const v = classify("dead-letter producer", e);
        if (v.action === "stop") throw new Stop(v.line);
        if (v.action === "reject") {
          // Too large after all (the broker counts bytes our estimate does not): one by one, then cut further.
          if (messages.length > 1) {
            for (const m of messages) await this.sendSlice([m], signal);
            return;
          }
          const m = messages[0]!;
          const smaller = m.value?.length ? truncateToFit(m, Math.floor(messageBytes(m) / 2)) : withoutSourceHeaders(m);
          log.warn({ bytes: messageBytes(m), now: messageBytes(smaller) }, "dead letter too large for the topic; cut further");
          messages = [smaller];
          continue;
        }
        if (attempt % 10 === 0) log.warn({ err: (e as Error).message, attempt }, "dead-letter send failed; retrying (the partition waits)");
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

/** A message's size as a record, roughly: key, value and headers (the framing is FRAMING_BYTES). */
function messageBytes(m: Message): number {
  let n = (m.key?.length ?? 0) + (m.value?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + 8 + (v === undefined ? 0 : Buffer.byteLength(v as string | Buffer));
  return n;
}

/**
 * The message with its value cut so that the whole is at most `budget` bytes, and headers saying so; the
 * message itself when it fits. A value already cut keeps the first cut's original size and hash.
 */
export function truncateToFit(m: Message, budget: number): Message {
  const size = messageBytes(m);
  if (size <= budget) return m;
  const value = typeof m.value === "string" ? Buffer.from(m.value) : (m.value ?? Buffer.alloc(0));
  const headers = { ...m.headers };
  if (headers[TRUNCATED] === undefined) {
    headers[TRUNCATED] = "true";
    headers["dlq.original.size"] = String(value.length);
    headers["dlq.original.sha256"] = new Bun.CryptoHasher("sha256").update(value).digest("hex");
  }
  const overhead = messageBytes({ ...m, value: null, headers });
  const keep = Math.max(0, Math.min(value.length, budget - overhead));
  return { ...m, value: value.subarray(0, keep), headers };
}

/** Past cutting the value: the source's own headers are what is too large; only ours are kept. */
function withoutSourceHeaders(m: Message): Message {
  const headers = Object.fromEntries(Object.entries(m.headers ?? {}).filter(([k]) => k.startsWith("dlq.")));
  if (Object.keys(headers).length === Object.keys(m.headers ?? {}).length) throw new Stop("a dead letter of only its dlq.* headers exceeds the dead-letter topic's max.message.bytes: raise it");
  return { ...m, headers: { ...headers, "dlq.headers.dropped": "true" } };
}

/** The topic's max.message.bytes (its own setting, or the broker's default it inherits). */
async function maxMessageBytes(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["max.message.bytes"] }],
    });
    const value = Number(resources[0]?.configEntries.find((e) => e.configName === "max.message.bytes")?.configValue);
    return Number.isFinite(value) && value > FRAMING_BYTES * 2 ? value : DEFAULT_MAX_MESSAGE_BYTES;
  } catch (e) {
    log.warn({ topic, err: (e as Error).message, assumed: DEFAULT_MAX_MESSAGE_BYTES }, "could not read the dead-letter topic's max.message.bytes");
    return DEFAULT_MAX_MESSAGE_BYTES;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
