/**
 * `events consume`: the whole path, top-down.
 *
 *   Kafka source ─▶ decode + validate + bucket_date ─▶ watermark (late?) ─▶ Cassandra sink
 *   (source.ts,      (codec/decode.ts: a StoredEvent       │        │        (cassandra/sink.ts)
 *    commits.ts)      or a BadRecord with its reason;      │        └─▶ windows per partition ─▶ event_windows
 *                     writer schemas: registry/)           │            (windowing.ts, windows/operator.ts)
 *                          └──── bad input ────────────────┴── late (LATE_EVENTS=dlq) ─▶ dead-letter topic
 *
 * For each chunk of a partition's records: every record becomes a row or a dead letter; both are
 * acknowledged (Cassandra write, Kafka ack from all in-sync replicas) before the chunk's offsets are
 * resolved and committed. What an error does is the failure policy's (src/common/failure.ts): an outage
 * makes the partition wait, a bad record is dead-lettered, a wrong deployment stops the process (Stop) with
 * nothing committed past the failing chunk. Replays are harmless: the primary key makes a replayed event
 * overwrite itself. With windows (WINDOWS=on), a chunk's window results are written with its rows, and commits
 * stop before the first record of every window not yet closed and written: a replay rebuilds those windows
 * from their first record, so a window's stored result is what one uninterrupted run gives (src/windows/).
 */
import type { KafkaMessage } from "kafkajs";
import type { Config } from "../cli/config.ts";
import { redacted } from "../cli/config.ts";
import { DeadLetters, type DeadLetter } from "./deadletter.ts";
import { decodeEvent } from "../codec/decode.ts";
import { bounds } from "../codec/rules.ts";
import { schemaId } from "../codec/formats.ts";
import { SchemaRegistry } from "../registry/registry.ts";
import { BadRecord, type StoredEvent } from "../codec/event.ts";
import { decide, Stop } from "../common/failure.ts";
import { Aborted } from "../common/retry.ts";
import { describeKafkaError, kafkaClient, requireTopic } from "../kafka/client.ts";
import { log } from "../common/log.ts";
import { ConsumeReport } from "../status/consume.ts";
import { metrics } from "../status/metrics.ts";
import { CassandraSink } from "../cassandra/sink.ts";
import { type Chunk, KafkaSource } from "./source.ts";
import { stopRequested } from "../cli/signals.ts";
import { startStatus } from "../status/server.ts";
import { readApi } from "../status/api.ts";
import { Watermarks } from "./watermark.ts";
import { Windowing } from "./windowing.ts";
import { Funnel } from "../windows/funnel.ts";
import { AvroEvent } from "../codec/avro-fast.ts";
import { WindowStore } from "../cassandra/windows.ts";

const SESSION_ID = Buffer.from("session_id");
/**
 * An event's session for the funnel: metadata.session_id, else the user. From the Avro bytes where they are kept,
 * as a hash (no string made per event: the strings were most of what windows added to the drain's garbage).
 */
const sessionOf = (e: StoredEvent): string | number =>
  (e instanceof AvroEvent ? e.metadataHash(SESSION_ID) : e.metadata.session_id) ?? e.userId;

/** How long SIGTERM waits for writes in flight before aborting them (they stay uncommitted). */
const SHUTDOWN_GRACE_MS = 8000;

export async function consume(cfg: Config): Promise<number> {
  log.info({ settings: redacted(cfg, "consume") }, "events consume starting");
  // A signal that came during start-up stops the pipeline as soon as it runs (src/cli/signals.ts).
  const stopping = stopRequested();
  bounds.maxFutureMs = cfg.maxFuture;
  const report = new ConsumeReport();

  const sink = await CassandraSink.open(cfg);
  const kafka = kafkaClient(cfg, "events-consume");
  // A missing dead-letter topic is a wrong deployment: said at start-up, before anything is consumed (else the
  // first bad record would stall its partition while the producer retried for good).
  const deadLetters = await requireTopic(kafka, cfg.dlqTopic, cfg, "KAFKA_DLQ_TOPIC")
    .then(() => DeadLetters.open(kafka, cfg.dlqTopic, cfg.compression, cfg))
    .catch(async (e) => {
      await sink.close();
      throw e instanceof Stop ? e : new Error(describeKafkaError(e, cfg));
    });
  // With a registry, Confluent-framed records are read with their writer schema (loaded once per id).
  const registry = cfg.registryUrl
    ? new SchemaRegistry({ url: cfg.registryUrl, username: cfg.registryUsername, password: cfg.registryPassword })
    : undefined;
  await registry?.check().catch(async (e) => {
    await Promise.all([sink.close(), deadLetters.close()]);
    throw e;
  });
  const watermarks = new Watermarks(cfg.outOfOrderness, cfg.idleTimeout);
  const windowing = cfg.windows === "on"
    ? new Windowing({ sizeMs: cfg.windowSize, allowedLatenessMs: cfg.windowLateness, outOfOrdernessMs: cfg.outOfOrderness })
    : undefined;
  const funnel = windowing && new Funnel();
  report.funnel = funnel;
  const windowStore = windowing && new WindowStore(sink.client, cfg.keyspace, cfg.windowSize, sink.consistency);
  await windowStore?.check().catch(async (e) => {
    await Promise.all([sink.close(), deadLetters.close()]);
    throw e;
  });
  const source: KafkaSource = new KafkaSource(kafka, {
    topic: cfg.topic, groupId: cfg.groupId, maxInFlight: cfg.maxInFlight, partitionsConcurrently: cfg.partitionsConcurrently,
    sessionTimeoutMs: cfg.sessionTimeout, fetchMaxBytes: cfg.fetchMaxBytes, commitIntervalMs: cfg.commitInterval,
    fetchMinBytes: cfg.fetchMinBytes, fetchMaxWaitMs: cfg.fetchMaxWait,
  }, (partitions) => {
    watermarks.setAssignment(partitions, Date.now());
    windowing?.assign(partitions, () => source.committed());
  });
  if (windowing) source.limit = (partition, done) => windowing.limit(partition, done);

  /** One chunk of one partition, start to finish. */
  async function handleChunk({ topic, partition, messages }: Chunk, signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const rows: StoredEvent[] = [];
    const dead: DeadLetter[] = [];
    const sources: KafkaMessage[] = []; // the record of each row, for latency and dead-lettering a refused row
    // Writer schemas this chunk names and the process has not seen: the partition waits while the registry is away.
    if (registry) await registry.load(new Set(messages.map((m) => schemaId(m.value, cfg.format)).filter((id) => id !== undefined)), signal);
    // What the windows take of each record, in offset order: the event, or null (a dead letter). Windowed below,
    // after the chunks before it and the restore, while the rows are written: the records themselves need not wait.
    const windowed: (StoredEvent | null)[] | undefined = windowing && [];
    for (const message of messages) {
      try {
        const event = decodeEvent(message.value, cfg.format, now, registry);
        windowed?.push(event);
        if (funnel && Funnel.counts(event.eventType)) funnel.add(event.eventTime, event.eventType, sessionOf(event));
        const late = watermarks.isLate(event.eventTime);
        watermarks.observe(partition, event.eventTime, now);
        if (late) {
          metrics.late.inc({ policy: cfg.lateEvents });
          if (cfg.lateEvents === "drop") continue;
          if (cfg.lateEvents === "dlq") {
            dead.push({ message, topic, partition, reason: "late", detail: `event_time ${event.eventTime} is at or below the watermark ${watermarks.value}` });
            continue;
          }
        }
        rows.push(event);
        sources.push(message);
      } catch (e) {
        if (!(e instanceof BadRecord)) {
          decide("record", e); // a decoder bug: throws Stop
          throw e;
        }
        watermarks.observe(partition, undefined, now); // bad input is still activity: the partition is not idle
        windowed?.push(null);
        dead.push({ message, topic, partition, reason: e.reason, detail: e.message });
      }
    }
    metrics.consumed.inc(messages.length);

    const windows = windowed && windowing!.inOrder(partition, async () => {
      // Queued behind the partition's earlier chunks: a rebalance meanwhile has started its windows over.
      if (signal.aborted) throw new Aborted();
      const w = windowing!.of(partition);
      if (!w) throw new Aborted(); // no longer ours
      windowed.forEach((e, i) => {
        const offset = Number(messages[i]!.offset);
        if (!e) w.skip(offset);
        else if (!w.add(offset, e.eventTime, e.eventType, e.userId)) metrics.windowLate.inc();
      });
      return { w, firing: w.take() };
    });
    const [rejected, , fired] = await Promise.all([
      sink.write(rows, signal), deadLetters.send(dead, signal),
      windows?.then(async (f) => (await windowStore!.write(partition, f.firing, signal), f)),
    ]);
    if (rejected.length) {
      // Rows Cassandra refused outright (never outages: those are retried) are kept on the dead-letter topic.
      await deadLetters.send(rejected.map((r) => ({
        message: sources[rows.indexOf(r.event)]!, topic, partition, reason: "rejected_by_cassandra" as const, detail: r.detail,
      })), signal);
    }

    if (fired) {
      fired.w.done(fired.firing);
      fired.w.recordPoint();
      for (const r of fired.firing.results) metrics.windowResults.inc({ closed: String(r.final) });
      windowing!.updateGauge();
    }
    const ackedAt = Date.now();
    metrics.written.inc(rows.length - rejected.length);
    const wm = watermarks.advance(ackedAt);
    if (wm > 0) {
      metrics.watermark.set(wm / 1000);
      metrics.watermarkLag.set((ackedAt - wm) / 1000);
    }
    report.chunkDone(now, ackedAt, rows, sources);
  }

  const status = startStatus(cfg.statusAddr, cfg.statusToken, report.statusSource(source, sink, watermarks, cfg.stallTimeout),
    readApi(sink.client, cfg.windowSize, cfg.bucket));
  const stopWatchingStalls = report.watchStalls(source, cfg.stallTimeout);

  // Run until a signal, a wrong deployment (Stop) or a fatal consumer error, or (with --exit-when-idle)
  // caught up and quiet.
  let stopped: Stop | undefined;
  const done = new Promise<number>((resolve) => {
    const stop = (why: string, code: number) => () => {
      log.info({ why }, "stopping: no more fetches, finishing writes in flight, committing");
      resolve(code);
    };
    void stopping.then((signal) => stop(signal, 0)());
    source.fatal = (e) => {
      if (stopped) return; // every chunk in flight may fail the same way: the first says it
      if (e instanceof Stop) stopped = e; // said once, after the shutdown, as main says any failure
      else log.fatal({ err: e?.message }, "the Kafka consumer cannot continue");
      resolve(1);
    };
    if (cfg.exitWhenIdle > 0) {
      const idle = setInterval(() => {
        if (source.caughtUp() && source.inFlight === 0 && Date.now() - report.lastRecordAt >= cfg.exitWhenIdle) {
          clearInterval(idle);
          stop(`caught up and idle for ${cfg.exitWhenIdle} ms`, 0)();
        }
      }, 100);
    }
  });
  const minutely = setInterval(() => void report.logRates(), 60_000);

  try {
    await source.start(handleChunk);
  } catch (e) {
    stopWatchingStalls();
    await Promise.all([deadLetters.close(), sink.close(), status?.stop()]);
    throw new Error(describeKafkaError(e, cfg));
  }
  report.lastRecordAt = Date.now();
  const code = await done;
  clearInterval(minutely);
  stopWatchingStalls();
  registry?.close();
  await source.stop(SHUTDOWN_GRACE_MS);
  await Promise.all([deadLetters.close(), sink.close(), status?.stop()]);
  await report.logSummary();
  if (stopped) throw stopped;
  return code;
}
