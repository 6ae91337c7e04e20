/**
 * `events simulate`: realistic website activity (src/simulate/activity.ts) into Kafka, at a steady rate or as
 * fast as the cluster takes it.
 *
 * Pacing: event i is due at start + i / rate. Each tick sends everything due, in one batch, keyed by
 * user_id (so one user's events keep their order within a partition), acknowledged by all in-sync
 * replicas. One batch is in flight at a time while the next is generated. Event times follow the
 * clock of that schedule: start (--start, default now) + i / rate, minus jitter (--out-of-order), or
 * --late-by behind it for --late-fraction of the events. With --seed and --start fixed, two runs send
 * byte-identical values (a seeded run starts at 2026-01-01T00:00:00Z unless --start says otherwise).
 */
import type { Message } from "kafkajs";
import { type Activity, malformed, seededRandom, Website } from "./activity.ts";
import type { Config } from "../cli/config.ts";
import { redacted } from "../cli/config.ts";
import { encode } from "../codec/encode.ts";
import { describeKafkaError, kafkaClient, requireTopic } from "../kafka/client.ts";
import { COMPRESSION } from "../kafka/compression.ts";
import { log } from "../common/log.ts";
import { metrics, value } from "../status/metrics.ts";
import { stopRequested } from "../cli/signals.ts";
import { startStatus } from "../status/server.ts";
import { registerSchema } from "../registry/registry.ts";
import { cachedPartitioner } from "../kafka/partitioner.ts";

/** At --rate 0 (as fast as possible) the schedule assumes this many events per second of event time. */
const NOMINAL_RATE = 1000;
const MAX_BATCH = 5000;
/** Kafka refuses a record batch over message.max.bytes (1 MiB by default): stay well under it. */
const MAX_BATCH_BYTES = 768 * 1024;
const TICK_MS = 20;
/** Where the event times of a seeded run start unless --start says otherwise. */
export const SEEDED_START = Date.parse("2026-01-01T00:00:00Z");

export async function simulate(cfg: Config): Promise<number> {
  const seed = cfg.seed ?? Math.floor(Math.random() * 2 ** 32);
  const format = cfg.format === "auto" ? "avro" : cfg.format;
  // Unseeded, event times follow the wall clock. Seeded, they start at a fixed instant (or --start), so that
  // two runs with the same seed and count send byte-identical values.
  const origin = cfg.start ?? (cfg.seed !== null ? SEEDED_START : Date.now());
  const rate = cfg.rate;
  const eventStep = 1000 / (rate || NOMINAL_RATE); // ms of event time between two events
  log.info({ settings: { ...redacted(cfg, "simulate"), SIMULATE_SEED: seed } }, "events simulate starting");

  const r = seededRandom(seed ^ 0xbad);
  let stopping = false;
  const stop = (why: string) => () => {
    if (!stopping) log.info({ why }, "stopping: flushing what was accepted");
    stopping = true;
  };
  void stopRequested().then((signal) => stop(signal)());
  const kafka = kafkaClient(cfg, "events-simulate");
  await requireTopic(kafka, cfg.topic, cfg);
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: cachedPartitioner });
  try {
    await producer.connect();
  } catch (e) {
    throw new Error(describeKafkaError(e, cfg));
  }
  let connected = true;
  producer.on(producer.events.DISCONNECT, () => {
    connected = false;
  });
  producer.on(producer.events.CONNECT, () => {
    connected = true;
  });

  let produced = 0; // acknowledged by Kafka
  let sampled = 0; // produced, at the last one-second sample of the status server
  let generated = 0;
  let invalid = 0;
  const started = performance.now();
  const status = startStatus(cfg.statusAddr, cfg.statusToken, {
    mode: "simulate",
    notReady: async () => (connected ? [] : ["kafka: producer not connected"]),
    sample: async () => {
      // Events acknowledged since the last sample: the status server samples once a second.
      const delta = produced - sampled;
      sampled = produced;
      return { produced: delta };
    },
    status: async () => ({
      produced, invalid, rate: await value(metrics.produceRate), target: rate,
      elapsedSec: (performance.now() - started) / 1000,
    }),
  });
  const progress = process.stderr.isTTY ? setInterval(() => printProgress(produced, started, cfg.count), 500) : undefined;
  let lastSample = { at: performance.now(), produced: 0 };
  const sampler = setInterval(() => {
    const now = performance.now();
    metrics.produceRate.set(Math.round(((produced - lastSample.produced) * 1000) / (now - lastSample.at)));
    lastSample = { at: now, produced };
  }, 1000);

  // Confluent framing names a schema id: with a registry, the id ours is registered under (subject
  // <topic>-value, the Confluent default); without one, 1.
  const schemaId = format === "confluent" && cfg.registryUrl ? await registerSchema(cfg) : 1;
  const schedule = eventSchedule({ ...cfg, seed, origin, eventStep });
  /** The next event of the schedule, encoded, maybe malformed; i is its index. */
  function next(i: number): Message {
    const event = schedule(i);
    let value = encode(event, format, schemaId);
    if (cfg.invalidFraction > 0 && r() < cfg.invalidFraction) {
      value = malformed(r, value, event);
      invalid++;
      metrics.producedInvalid.inc();
    }
    return { key: event.user_id, value };
  }

  // How many events the run has in all (Infinity: until stopped): --count, or those due within --duration.
  const total = Math.min(cfg.count > 0 ? cfg.count : Infinity, cfg.duration > 0 ? Math.ceil((cfg.duration * (rate || NOMINAL_RATE)) / 1000) : Infinity);
  // At a set rate, a batch holds at least a tick's worth of events. Sending whatever was due each time
  // the previous send returned made batches of a few dozen events: hundreds of requests a second, and
  // the simulator and the broker used more CPU than the pipeline they were feeding.
  const minBatch = rate > 0 ? Math.max(1, Math.floor((rate * TICK_MS) / 1000)) : 1;

  let inFlight: Promise<unknown> = Promise.resolve();
  let failed: Error | undefined;
  try {
    while (!stopping && generated < total && !failed) {
      // How many events are due now (rate > 0), or a full batch (rate 0).
      const elapsed = performance.now() - started;
      const due = rate > 0 ? Math.floor((elapsed * rate) / 1000) + 1 : generated + MAX_BATCH;
      const n = Math.min(due - generated, MAX_BATCH);
      const wanted = Math.min(minBatch, total - generated);
      if (n < wanted) {
        await Bun.sleep(Math.min(TICK_MS, Math.max(1, ((generated + wanted - due) * 1000) / rate)));
        continue;
      }
      const batch: Message[] = [];
      let bytes = 0;
      for (let k = 0; k < n && bytes < MAX_BATCH_BYTES && generated < total; k++) {
        const m = next(generated++);
        bytes += (m.value as Buffer).length + 40;
        batch.push(m);
      }
      await inFlight; // one batch in flight: keeps per-key order and bounds memory
      inFlight = producer.send({ topic: cfg.topic, acks: -1, compression: COMPRESSION[cfg.compression], messages: batch }).then(
        () => {
          produced += batch.length;
          metrics.produced.inc(batch.length);
        },
        (e: Error) => {
          failed = e;
        },
      );
    }
    await inFlight;
  } finally {
    clearInterval(sampler);
    if (progress) {
      clearInterval(progress);
      printProgress(produced, started, cfg.count);
      process.stderr.write("\n");
    }
    await producer.disconnect().catch(() => {});
    await status?.stop();
  }
  const elapsedSec = (performance.now() - started) / 1000;
  const summary = {
    produced, invalid, seed, format, topic: cfg.topic, elapsedSec: Number(elapsedSec.toFixed(3)),
    eventsPerSec: Math.round(produced / elapsedSec), targetRate: rate || "max",
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  if (failed) {
    log.error({ ...summary, err: describeKafkaError(failed, cfg) }, "producing failed");
    return 1;
  }
  log.info(summary, "summary");
  return 0;
}

export interface ScheduleSettings {
  seed: number;
  users: number;
  origin: number; // event time of event 0
  eventStep: number; // ms of event time between two events
  outOfOrder: number;
  lateFraction: number;
  lateBy: number;
}

/**
 * The simulator's events, in order: event i happens at origin + i * eventStep, minus jitter, or lateBy
 * behind that for lateFraction of them. Deterministic for a seed; shared with the benchmark, which writes
 * the very same events straight to Cassandra.
 */
export function eventSchedule(s: ScheduleSettings): (i: number) => Activity & { event_time: number } {
  const site = new Website(s.seed, s.users);
  const r = seededRandom(s.seed ^ 0x5eed);
  return (i) => {
    const a = site.next();
    const clock = s.origin + i * s.eventStep;
    const late = s.lateFraction > 0 && r() < s.lateFraction;
    const jitter = s.outOfOrder > 0 ? Math.floor(r() * s.outOfOrder) : 0;
    return { ...a, event_time: Math.round(late ? clock - s.lateBy : clock - jitter) };
  };
}

function printProgress(produced: number, started: number, count: number): void {
  const secs = (performance.now() - started) / 1000;
  const rate = produced / Math.max(secs, 0.001);
  const eta = count > 0 && rate > 0 ? `, ETA ${Math.max(0, (count - produced) / rate).toFixed(0)}s` : "";
  const of = count > 0 ? `/${count}` : "";
  process.stderr.write(`\r${produced}${of} events, ${Math.round(rate)}/s, ${secs.toFixed(1)}s elapsed${eta}   `);
}
