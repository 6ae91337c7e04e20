/**
 * `events consume`: the whole path, top-down.
 *
 *   Kafka source ─▶ decode ─▶ validate/transform + bucket_date ─▶ watermark (late?) ─▶ Cassandra sink
 *                      └──────────── bad input ──────────────┴──── late (LATE_EVENTS=dlq) ─▶ dead-letter topic
 *
 * For each chunk of a partition's records: every record becomes a row or a dead letter; both are
 * acknowledged (Cassandra write, Kafka ack from all in-sync replicas) before the chunk's offsets are
 * resolved and committed. Nothing is skipped: Cassandra outages are retried with backoff, so a partition
 * waits rather than moves on. Replays are harmless: the primary key makes a replayed event overwrite itself.
 */
import type { KafkaMessage } from "kafkajs";
import type { Config } from "../cli/config.ts";
import { redacted } from "../cli/config.ts";
import { DeadLetters, type DeadLetter } from "./deadletter.ts";
import { decodeEvent } from "../codec/decode.ts";
import { BadRecord, type StoredEvent } from "../codec/event.ts";
import { describeKafkaError, kafkaClient } from "../kafka/client.ts";
import type { LatencyRecorder } from "../status/latency.ts";
import { log } from "../common/log.ts";
import { metrics, value } from "../status/metrics.ts";
import { CassandraSink } from "../cassandra/sink.ts";
import { type Chunk, KafkaSource } from "./source.ts";
import { stopRequested } from "../cli/signals.ts";
import { startStatus } from "../status/server.ts";
import { Watermarks } from "./watermark.ts";

/** How long SIGTERM waits for writes in flight before aborting them (they stay uncommitted). */
const SHUTDOWN_GRACE_MS = 8000;

export async function consume(cfg: Config): Promise<number> {
  const started = Date.now();
  log.info({ settings: redacted(cfg, "consume") }, "events consume starting");
  // A signal that came during start-up stops the pipeline as soon as it runs (src/cli/signals.ts).
  const stopping = stopRequested();

  const sink = await CassandraSink.open(cfg);
  const kafka = kafkaClient(cfg, "events-consume");
  const deadLetters = await DeadLetters.open(kafka, cfg.dlqTopic).catch(async (e) => {
    await sink.close();
    throw new Error(describeKafkaError(e, cfg));
  });
  const watermarks = new Watermarks(cfg.outOfOrderness, cfg.idleTimeout);
  const source = new KafkaSource(kafka, {
    topic: cfg.topic, groupId: cfg.groupId, maxInFlight: cfg.maxInFlight, partitionsConcurrently: cfg.partitionsConcurrently,
    sessionTimeoutMs: cfg.sessionTimeout, fetchMaxBytes: cfg.fetchMaxBytes, commitIntervalMs: cfg.commitInterval,
  }, (partitions) => watermarks.setAssignment(partitions, Date.now()));
  const recent: StoredEvent[] = []; // a tail of the latest events, for the dashboard
  let lastRecordAt = Date.now();
  let firstRecordAt: number | undefined;
  const latency = { sum: 0, n: 0, max: 0 }; // end-to-end latency since the last one-second sample
  const latencies = metrics.endToEnd; // every event's, for /metrics and the summary line's percentiles

  /** One chunk of one partition, start to finish. */
  async function handleChunk({ topic, partition, messages }: Chunk, signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const rows: StoredEvent[] = [];
    const dead: DeadLetter[] = [];
    const sources: KafkaMessage[] = []; // the record of each row, for latency and dead-lettering a refused row
    for (const message of messages) {
      try {
        const event = decodeEvent(message.value, cfg.format, now);
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
        if (!(e instanceof BadRecord)) throw e;
        watermarks.observe(partition, undefined, now); // bad input is still activity: the partition is not idle
        dead.push({ message, topic, partition, reason: e.reason, detail: e.message });
      }
    }
    metrics.consumed.inc(messages.length);

    const [rejected] = await Promise.all([sink.write(rows, signal), deadLetters.send(dead, signal)]);
    if (rejected.length) {
      // Rows Cassandra refused outright (never outages: those are retried) are kept on the dead-letter topic.
      await deadLetters.send(rejected.map((r) => ({
        message: sources[rows.indexOf(r.event)]!, topic, partition, reason: "rejected_by_cassandra" as const, detail: r.detail,
      })), signal);
    }

    const ackedAt = Date.now();
    metrics.written.inc(rows.length - rejected.length);
    for (const m of sources) {
      const ms = Math.max(0, ackedAt - Number(m.timestamp));
      latencies.record(ms);
      latency.sum += ms;
      latency.n++;
      if (ms > latency.max) latency.max = ms;
    }
    const wm = watermarks.advance(ackedAt);
    if (wm > 0) {
      metrics.watermark.set(wm / 1000);
      metrics.watermarkLag.set((ackedAt - wm) / 1000);
    }
    for (let i = Math.max(0, rows.length - 20); i < rows.length; i++) recent.push(rows[i]!);
    if (recent.length > 20) recent.splice(0, recent.length - 20);
    lastRecordAt = ackedAt;
    firstRecordAt ??= now;
  }

  let prev = { consumed: 0, written: 0, deadLettered: 0, late: 0 };
  const status = startStatus(cfg.statusAddr, cfg.statusToken, {
    mode: "consume",
    async sample() {
      const now = { consumed: await value(metrics.consumed), written: await value(metrics.written),
        deadLettered: await value(metrics.deadLettered), late: await value(metrics.late) };
      const out = {
        consumed: now.consumed - prev.consumed, written: now.written - prev.written,
        deadLettered: now.deadLettered - prev.deadLettered, late: now.late - prev.late,
        latencyAvgMs: latency.n ? Math.round(latency.sum / latency.n) : null, latencyMaxMs: latency.n ? latency.max : null,
        watermarkLagSec: watermarks.value > 0 ? (Date.now() - watermarks.value) / 1000 : null,
        lag: [...source.lag.values()].reduce((a, b) => a + b, 0),
      };
      prev = now;
      latency.sum = latency.n = latency.max = 0;
      return out;
    },
    async notReady() {
      const missing: string[] = [];
      if (!source.joined) missing.push("kafka: not a member of the consumer group yet");
      if (!(await sink.ping())) missing.push("cassandra: not answering");
      return missing;
    },
    async status() {
      const now = Date.now();
      return {
        consumed: await value(metrics.consumed),
        written: await value(metrics.written),
        deadLettered: await value(metrics.deadLettered),
        late: await value(metrics.late),
        retries: await value(metrics.retries),
        inFlight: source.inFlight,
        watermark: watermarks.value > 0 ? watermarks.value : null,
        partitions: watermarks.snapshot(now).map((p) => ({ ...p, lag: source.lag.get(p.partition) ?? null })),
        recent: recent.map((e) => ({ userId: e.userId, eventType: e.eventType, eventTime: e.eventTime, eventId: e.eventId, metadata: e.metadata, bucketDate: e.bucketDate })),
      };
    },
  });

  // Run until a signal, a fatal consumer error, or (with --exit-when-idle) caught up and quiet.
  const done = new Promise<number>((resolve) => {
    const stop = (why: string, code: number) => () => {
      log.info({ why }, "stopping: no more fetches, finishing writes in flight, committing");
      resolve(code);
    };
    void stopping.then((signal) => stop(signal, 0)());
    source.fatal = (e) => {
      log.fatal({ err: e?.message }, "the Kafka consumer cannot continue");
      resolve(1);
    };
    if (cfg.exitWhenIdle > 0) {
      const idle = setInterval(() => {
        if (source.caughtUp() && source.inFlight === 0 && Date.now() - lastRecordAt >= cfg.exitWhenIdle) {
          clearInterval(idle);
          stop(`caught up and idle for ${cfg.exitWhenIdle} ms`, 0)();
        }
      }, 100);
    }
  });
  const minutely = setInterval(() => void logRates(started), 60_000);

  try {
    await source.start(handleChunk);
  } catch (e) {
    await Promise.all([deadLetters.close(), sink.close(), status?.stop()]);
    throw new Error(describeKafkaError(e, cfg));
  }
  lastRecordAt = Date.now();
  const code = await done;
  clearInterval(minutely);
  await source.stop(SHUTDOWN_GRACE_MS);
  await Promise.all([deadLetters.close(), sink.close(), status?.stop()]);
  await logSummary(started, firstRecordAt, lastRecordAt, latencies);
  return code;
}

let lastRates = { at: Date.now(), consumed: 0, written: 0 };
async function logRates(started: number): Promise<void> {
  const now = Date.now();
  const consumed = await value(metrics.consumed);
  const written = await value(metrics.written);
  const secs = (now - lastRates.at) / 1000;
  log.info({
    consumedPerSec: Math.round((consumed - lastRates.consumed) / secs), writtenPerSec: Math.round((written - lastRates.written) / secs),
    consumed, written, deadLettered: await value(metrics.deadLettered), late: await value(metrics.late),
    uptimeSec: Math.round((now - started) / 1000),
  }, "rates");
  lastRates = { at: now, consumed, written };
}

/** The one summary line: totals, and the rate from the first record to the last one written. */
async function logSummary(started: number, first: number | undefined, last: number, latencies: LatencyRecorder): Promise<void> {
  const consumed = await value(metrics.consumed);
  const busySec = first === undefined ? 0 : Math.max(0.001, (last - first) / 1000);
  log.info({
    consumed, written: await value(metrics.written), deadLettered: await value(metrics.deadLettered),
    late: await value(metrics.late), elapsedSec: Number(((Date.now() - started) / 1000).toFixed(3)),
    busySec: Number(busySec.toFixed(3)), eventsPerSec: busySec ? Math.round(consumed / busySec) : 0,
    // The busy window itself, so that what else ran meanwhile (Kafka, Cassandra) can be charged to it alone.
    busyFrom: first === undefined ? null : new Date(first).toISOString(), busyTo: first === undefined ? null : new Date(last).toISOString(),
    latencyMs: { p50: latencies.percentile(0.5), p99: latencies.percentile(0.99), max: latencies.count ? latencies.max : null },
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  }, "summary");
}
