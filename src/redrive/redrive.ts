/**
 * `events redrive`: dead letters back to the source topic, once the cause is fixed (a consumer bound, a
 * producer bug, a table).
 *
 *   1. note each dead-letter partition's end offset: records appended after that (new dead letters, our own
 *      markers) are not this run's business;
 *   2. read the partitions up to there once for the markers of earlier redrives (select.ts: the loop guard);
 *   3. read them again and re-send what the filters select, keyed and with headers as the original, acknowledged
 *      by all in-sync replicas; then, per dead letter sent, a marker in its dead-letter partition.
 *
 * A crash between a send and its marker re-sends that record next run: harmless, since the table's key makes a
 * re-stored event overwrite itself. Two redrives at once may both send a record, for the same reason.
 * With --dry-run, step 3 logs one JSON line per record it would send (`msg` "would redrive") and sends nothing.
 * Reading uses a throw-away consumer group (no offsets committed), deleted at the end.
 */
import { type Kafka, type KafkaMessage, type Message, Partitioners, type Producer } from "kafkajs";
import type { Config } from "../cli/config.ts";
import { redacted } from "../cli/config.ts";
import { describeKafkaError, kafkaClient, requireTopic } from "../kafka/client.ts";
import { COMPRESSION } from "../kafka/compression.ts";
import { log } from "../common/log.ts";
import { type Filter, header, marker, markedOffset, redrivenMessage, REFUSED, select, type Skip } from "./select.ts";

/** A partition that yields nothing for this long while records are due is said, not waited on in silence. */
const SCAN_STALL_MS = 30_000;
/** Re-sends go in slices well under the broker's default 1 MiB request limit. */
const SLICE_BYTES = 512 * 1024;

type Counts = Record<"sent" | Skip, number>;
const zero = (): Counts => ({ sent: 0, marker: 0, not_a_dead_letter: 0, other_topic: 0, filtered: 0, truncated: 0, redriven_too_often: 0, already_redriven: 0 });

export async function redrive(cfg: Config): Promise<number> {
  log.info({ settings: redacted(cfg, "redrive") }, "events redrive starting");
  const filter: Filter = {
    sourceTopic: cfg.topic, reasons: cfg.reasons, since: cfg.since, until: cfg.until, sourceOffsets: cfg.sourceOffsets,
    maxRedrives: cfg.maxRedrives,
  };
  const kafka = kafkaClient(cfg, "events-redrive");
  await requireTopic(kafka, cfg.dlqTopic, cfg, "KAFKA_DLQ_TOPIC");
  await requireTopic(kafka, cfg.topic, cfg, "KAFKA_TOPIC");
  const ranges = await partitionRanges(kafka, cfg.dlqTopic, cfg);
  const total = ranges.reduce((n, r) => n + (r.end - r.start), 0);

  // Pass 1: which dead letters earlier runs redrove (and what the filters alone would select).
  const redriven = new Map<number, Set<string>>(ranges.map((r) => [r.partition, new Set()]));
  const none = new Set<string>();
  const first = zero();
  const reading = progress("reading markers", total);
  await scan(kafka, cfg.dlqTopic, ranges, cfg, async (partition, messages) => {
    for (const m of messages) {
      const of = markedOffset(m);
      if (of !== undefined) redriven.get(partition)!.add(of);
      const verdict = select(m, filter, none);
      first[verdict === "send" ? "sent" : verdict]++;
    }
    reading.add(messages.length);
  });
  reading.done();

  // Pass 2: send (or print) what is selected and not redriven before.
  let counts = first;
  if (first.sent > 0) {
    counts = zero();
    const producer = cfg.dryRun ? null : await connectProducer(kafka, cfg);
    const sending = progress(cfg.dryRun ? "dry run" : "redriving", total);
    try {
      await scan(kafka, cfg.dlqTopic, ranges, cfg, async (partition, messages) => {
        const chosen: KafkaMessage[] = [];
        for (const m of messages) {
          const verdict = select(m, filter, redriven.get(partition)!);
          if (verdict === "send") chosen.push(m);
          else counts[verdict]++;
        }
        // Stdout is JSON lines (the log's): a dry run's records are lines of it, `msg` "would redrive".
        if (cfg.dryRun) for (const m of chosen) log.info(describe(m, partition), "would redrive");
        else await send(producer!, cfg, partition, chosen);
        counts.sent += chosen.length;
        sending.add(messages.length);
      });
    } finally {
      sending.done();
      await producer?.disconnect().catch(() => {});
    }
  }

  const refused = REFUSED.reduce((n, k) => n + counts[k], 0);
  log.info({ ...counts, deadLetterTopic: cfg.dlqTopic, to: cfg.topic, dryRun: cfg.dryRun }, "events redrive done");
  const verb = cfg.dryRun ? "would send" : "sent";
  console.error(`events redrive: ${verb} ${counts.sent} of ${total} records of ${cfg.dlqTopic} to ${cfg.topic}` +
    (refused ? `; refused ${refused} (already redriven: ${counts.already_redriven}, dead-lettered again after ${cfg.maxRedrives} redrive(s): ${counts.redriven_too_often}, value truncated: ${counts.truncated})` : "") +
    `; not selected: ${counts.filtered + counts.other_topic} (filters, other source topics)`);
  return 0;
}

interface Range { partition: number; start: number; end: number }

/** Each partition's [earliest, end) at the start of the run; empty ones are left out. */
async function partitionRanges(kafka: Kafka, topic: string, cfg: Config): Promise<Range[]> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, start: Number(o.low), end: Number(o.high) })).filter((r) => r.end > r.start);
  } catch (e) {
    throw new Error(describeKafkaError(e, cfg));
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Read each partition from its start to its end as noted, in order; `each` is awaited batch by batch. */
async function scan(kafka: Kafka, topic: string, ranges: Range[], cfg: Config,
  each: (partition: number, messages: KafkaMessage[]) => Promise<void>): Promise<void> {
  if (!ranges.length) return;
  const groupId = `events-redrive-${process.pid}-${crypto.randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  const end = new Map(ranges.map((r) => [r.partition, r.end]));
  const remaining = new Set(ranges.map((r) => r.partition));
  let lastProgress = Date.now();
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    consumer.on(consumer.events.CRASH, ({ payload }) => fail(new Error(describeKafkaError(payload.error, cfg))));
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const stop = end.get(batch.partition) ?? 0;
        const due = batch.messages.filter((m) => Number(m.offset) < stop);
        if (due.length) await each(batch.partition, due);
        lastProgress = Date.now();
        if (Number(batch.lastOffset()) >= stop - 1 && remaining.delete(batch.partition) && remaining.size === 0) finish();
        await heartbeat();
      },
    });
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > SCAN_STALL_MS) {
        fail(new Error(`no progress reading ${topic} for ${SCAN_STALL_MS / 1000} s (partitions left: ${[...remaining].join(",")}); is the broker up?`));
      }
    }, 1000);
    try {
      await finished;
    } finally {
      clearInterval(watchdog);
    }
  } finally {
    await consumer.disconnect().catch(() => {});
    const admin = kafka.admin();
    await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => {}).finally(() => admin.disconnect().catch(() => {}));
  }
}

async function connectProducer(kafka: Kafka, cfg: Config): Promise<Producer> {
  // The default partitioner: the original key lands in the partition it came from.
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
  try {
    await producer.connect();
  } catch (e) {
    throw new Error(describeKafkaError(e, cfg));
  }
  return producer;
}

/** Re-send in slices; after each slice is acknowledged, its markers. */
async function send(producer: Producer, cfg: Config, partition: number, chosen: KafkaMessage[]): Promise<void> {
  for (let from = 0; from < chosen.length;) {
    let to = from;
    for (let bytes = 0; to < chosen.length && (to === from || bytes < SLICE_BYTES); to++) bytes += (chosen[to]!.value?.length ?? 0) + 256;
    const slice = chosen.slice(from, to);
    const messages: Message[] = slice.map((m) => redrivenMessage(m, cfg.dlqTopic, partition));
    try {
      await producer.send({ topic: cfg.topic, acks: -1, compression: COMPRESSION[cfg.compression], messages });
      const now = new Date();
      await producer.send({ topic: cfg.dlqTopic, acks: -1, messages: slice.map((m) => marker(partition, m.offset, cfg.topic, now)) });
    } catch (e) {
      throw new Error(`${describeKafkaError(e, cfg)}; what was sent before is marked: running redrive again goes on from here`);
    }
    from = to;
  }
}

/** A dry run's line: enough to tell what would go where, not the whole value. */
function describe(m: KafkaMessage, partition: number) {
  const h = (name: string) => header(m.headers, name);
  return {
    deadLetter: `${partition}/${m.offset}`, reason: h("dlq.reason"), error: h("dlq.error"), deadLetteredAt: h("dlq.time"),
    source: `${h("dlq.source.topic")}/${h("dlq.source.partition")}/${h("dlq.source.offset")}`,
    key: m.key?.toString("utf8") ?? null, valueBytes: m.value?.length ?? 0, redriven: Number(h("dlq.redriven") ?? 0),
  };
}

/** On a terminal: one line that updates (stderr). Elsewhere: a log line every 5 s. */
function progress(what: string, total: number) {
  const tty = process.stderr.isTTY;
  let done = 0;
  let shownAt = 0;
  const show = (force = false) => {
    const now = Date.now();
    if (!force && now - shownAt < (tty ? 200 : 5000)) return;
    shownAt = now;
    const pct = total ? Math.floor((done / total) * 100) : 100;
    if (tty) process.stderr.write(`\r${what}: ${done}/${total} records (${pct}%)`);
    else log.info({ done, total }, what);
  };
  return {
    add(n: number) {
      done += n;
      show();
    },
    done() {
      show(true);
      if (tty) process.stderr.write("\n");
    },
  };
}
