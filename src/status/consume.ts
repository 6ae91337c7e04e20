/**
 * What `events consume` reports: the status server's figures (/status, /readyz, the dashboard's one-second
 * samples), the minutely rates line and the summary line at exit. The pipeline tells it what each chunk
 * did (chunkDone) and reads nothing back: the data path stays in src/consume/pipeline.ts.
 */
import type { KafkaMessage } from "kafkajs";
import type { CassandraSink } from "../cassandra/sink.ts";
import type { StoredEvent } from "../codec/event.ts";
import { log } from "../common/log.ts";
import type { KafkaSource } from "../consume/source.ts";
import type { Watermarks } from "../consume/watermark.ts";
import type { Funnel } from "../windows/funnel.ts";
import { metrics, value } from "./metrics.ts";
import type { StatusSource } from "./server.ts";

/** The dashboard's tail of the latest events. */
const RECENT = 20;

export class ConsumeReport {
  readonly started = Date.now();
  /** When the first record arrived, and when the last one was written (the summary's busy window). */
  firstRecordAt: number | undefined;
  lastRecordAt = Date.now();
  private readonly recent: StoredEvent[] = [];
  private readonly latency = { sum: 0, n: 0, max: 0 }; // end-to-end latency since the last one-second sample
  private prev = { consumed: 0, written: 0, deadLettered: 0, late: 0 };
  /** The funnel of this consumer's partitions over the last hour of event time (with windows on). */
  funnel?: Funnel;
  private lastRates = { at: Date.now(), consumed: 0, written: 0 };

  /** A chunk is written: its rows' end-to-end latency (Kafka record time → Cassandra ack), the recent tail. */
  chunkDone(receivedAt: number, ackedAt: number, rows: StoredEvent[], sources: KafkaMessage[]): void {
    for (const m of sources) {
      const ms = Math.max(0, ackedAt - Number(m.timestamp));
      metrics.endToEnd.record(ms);
      this.latency.sum += ms;
      this.latency.n++;
      if (ms > this.latency.max) this.latency.max = ms;
    }
    for (let i = Math.max(0, rows.length - RECENT); i < rows.length; i++) this.recent.push(rows[i]!);
    if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
    this.lastRecordAt = ackedAt;
    this.firstRecordAt ??= receivedAt;
  }

  /**
   * Nothing stalls in silence: once a second, each assigned partition's stall (records waiting, no chunk done
   * for STALL_TIMEOUT) goes to events_partition_stalled_seconds, and a stalled partition logs a warning once a
   * minute; /readyz names it too (below). Returns the function that stops the watch.
   */
  watchStalls(source: KafkaSource, timeoutMs: number): () => void {
    const lastLogged = new Map<number, number>();
    const timer = setInterval(() => {
      const now = Date.now();
      const stalled = new Map(source.stalled(timeoutMs).map((s) => [s.partition, s.seconds]));
      for (const p of source.assigned) metrics.partitionStalled.set({ partition: String(p) }, stalled.get(p) ?? 0);
      for (const [partition, seconds] of stalled) {
        if (now - (lastLogged.get(partition) ?? 0) < 60_000) continue;
        lastLogged.set(partition, now);
        log.warn({ partition, stalledSec: seconds, stallTimeoutMs: timeoutMs }, "partition stalled: records wait and no chunk is done (an outage being waited out? see the warnings before this)");
      }
    }, 1000);
    return () => clearInterval(timer);
  }

  /** The status server's view of the running pipeline. */
  statusSource(source: KafkaSource, sink: CassandraSink, watermarks: Watermarks, stallTimeoutMs: number): StatusSource {
    return {
      mode: "consume",
      sample: async () => {
        const now = { consumed: await value(metrics.consumed), written: await value(metrics.written),
          deadLettered: await value(metrics.deadLettered), late: await value(metrics.late) };
        const { latency, prev } = this;
        const out = {
          consumed: now.consumed - prev.consumed, written: now.written - prev.written,
          deadLettered: now.deadLettered - prev.deadLettered, late: now.late - prev.late,
          latencyAvgMs: latency.n ? Math.round(latency.sum / latency.n) : null, latencyMaxMs: latency.n ? latency.max : null,
          watermarkLagSec: watermarks.value > 0 ? (Date.now() - watermarks.value) / 1000 : null,
          lag: [...source.lag.values()].reduce((a, b) => a + b, 0),
        };
        this.prev = now;
        latency.sum = latency.n = latency.max = 0;
        return out;
      },
      notReady: async () => {
        const missing: string[] = [];
        if (!source.joined) missing.push("kafka: not a member of the consumer group yet");
        if (!(await sink.ping())) missing.push("cassandra: not answering");
        for (const s of source.stalled(stallTimeoutMs)) missing.push(`partition ${s.partition}: stalled, no progress for ${s.seconds} s while records wait`);
        return missing;
      },
      status: async () => ({
        consumed: await value(metrics.consumed),
        written: await value(metrics.written),
        deadLettered: await value(metrics.deadLettered),
        late: await value(metrics.late),
        retries: await value(metrics.retries),
        inFlight: source.inFlight,
        caughtUp: source.caughtUp(),
        windowLate: await value(metrics.windowLate),
        windowsOpen: await value(metrics.windowsOpen),
        watermark: watermarks.value > 0 ? watermarks.value : null,
        partitions: watermarks.snapshot(Date.now()).map((p) => ({ ...p, lag: source.lag.get(p.partition) ?? null })),
        funnel: this.funnel?.report() ?? null,
        recent: this.recent.map((e) => ({ userId: e.userId, eventType: e.eventType, eventTime: e.eventTime, eventId: e.eventId, metadata: e.metadata, bucketDate: e.bucketDate })),
      }),
    };
  }

  /** The minutely "rates" log line. */
  async logRates(): Promise<void> {
    const now = Date.now();
    const consumed = await value(metrics.consumed);
    const written = await value(metrics.written);
    const secs = (now - this.lastRates.at) / 1000;
    log.info({
      consumedPerSec: Math.round((consumed - this.lastRates.consumed) / secs), writtenPerSec: Math.round((written - this.lastRates.written) / secs),
      consumed, written, deadLettered: await value(metrics.deadLettered), late: await value(metrics.late),
      uptimeSec: Math.round((now - this.started) / 1000),
    }, "rates");
    this.lastRates = { at: now, consumed, written };
  }

  /** The one summary line: totals, and the rate from the first record to the last one written. */
  async logSummary(): Promise<void> {
    const { firstRecordAt: first, lastRecordAt: last } = this;
    const latencies = metrics.endToEnd;
    const consumed = await value(metrics.consumed);
    const busySec = first === undefined ? 0 : Math.max(0.001, (last - first) / 1000);
    log.info({
      consumed, written: await value(metrics.written), deadLettered: await value(metrics.deadLettered),
      late: await value(metrics.late), windowLate: await value(metrics.windowLate), elapsedSec: Number(((Date.now() - this.started) / 1000).toFixed(3)),
      busySec: Number(busySec.toFixed(3)), eventsPerSec: busySec ? Math.round(consumed / busySec) : 0,
      // The busy window itself, so that what else ran meanwhile (Kafka, Cassandra) can be charged to it alone.
      busyFrom: first === undefined ? null : new Date(first).toISOString(), busyTo: first === undefined ? null : new Date(last).toISOString(),
      latencyMs: { p50: latencies.percentile(0.5), p99: latencies.percentile(0.99), max: latencies.count ? latencies.max : null },
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }, "summary");
  }
}
