/**
 * `events collect`: the website's front door. Browsers (the tracker) and servers POST events over HTTP
 * (src/collect/app.ts); each is validated by the consumer's rules (intake.ts), encoded as the design's Avro (or
 * Confluent-framed, or JSON: EVENT_FORMAT), keyed by user_id and produced to KAFKA_TOPIC. A request is answered
 * 202 only when Kafka acknowledged all of its events: acks from every in-sync replica, by an idempotent producer,
 * one produce request at a time carrying every request waiting (batcher.ts).
 *
 * SIGTERM: stop taking requests (the listener closes; a load balancer moves on), wait for what was accepted to
 * be acknowledged, disconnect, exit 0. An error the failure policy calls a wrong deployment (an ACL, SASL)
 * answers 503 and exits 1 with one line.
 */
import type { Message } from "kafkajs";
import type { Config } from "../cli/config.ts";
import { redacted } from "../cli/config.ts";
import { stopRequested } from "../cli/signals.ts";
import { encode, type EventRecord } from "../codec/encode.ts";
import { bounds } from "../codec/rules.ts";
import { classify, Stop } from "../common/failure.ts";
import { log } from "../common/log.ts";
import { within } from "../common/retry.ts";
import { describeKafkaError, kafkaClient, probeWrite, requireTopic } from "../kafka/client.ts";
import { COMPRESSION } from "../kafka/compression.ts";
import { cachedPartitioner } from "../kafka/partitioner.ts";
import { registerSchema } from "../registry/registry.ts";
import { metrics, value } from "../status/metrics.ts";
import { startStatus } from "../status/server.ts";
import { collectApp } from "./app.ts";
import { Batcher } from "./batcher.ts";
import shopHtml from "./shop.html" with { type: "text" };
// @ts-expect-error: a browser script imported as text (embedded in the binary), not a module.
import trackerSource from "./tracker.js" with { type: "text" };

/** Kafka's default max.message.bytes is 1 MiB per batch: one send stays under it with room for headers. */
const MAX_SEND_BYTES = 768 * 1024;
/** Accepted events waiting for Kafka, at most (about 100,000 events): past it requests get 503 at once. */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

/** The tracker as served: whitespace-minified once at start (its comments are for people). */
export const tracker = new Bun.Transpiler({ loader: "js", minifyWhitespace: true }).transformSync(trackerSource as string);

export async function collect(cfg: Config): Promise<number> {
  log.info({ settings: redacted(cfg, "collect") }, "events collect starting");
  const stopping = stopRequested();
  bounds.maxFutureMs = cfg.maxFuture;
  // auto: Confluent-framed with our schema's registered id where a registry is set, else plain Avro.
  const format = cfg.format === "auto" ? (cfg.registryUrl ? "confluent" : "avro") : cfg.format;
  const kafka = kafkaClient(cfg, "events-collect");
  await requireTopic(kafka, cfg.topic, cfg);
  // A principal without WRITE on the topic is a wrong deployment: said at start-up, not at the first request.
  const probe = kafka.producer({ allowAutoTopicCreation: false });
  try {
    await probe.connect();
    await probeWrite(probe, cfg.topic, "collector producer", "KAFKA_TOPIC");
  } catch (e) {
    throw e instanceof Stop ? e : new Error(describeKafkaError(e, cfg));
  } finally {
    await probe.disconnect().catch(() => {});
  }
  const schemaId = format === "confluent" && cfg.registryUrl ? await registerSchema(cfg) : 1;
  const producer = kafka.producer({
    idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: cachedPartitioner,
    // Idempotence wants unbounded retries; a request stops waiting at COLLECT_ACK_TIMEOUT, the send goes on.
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 5000 },
  });
  try {
    await producer.connect();
  } catch (e) {
    throw new Error(describeKafkaError(e, cfg));
  }
  let lastError = "";
  const batcher = new Batcher<Message>(
    async (messages) => {
      try {
        await producer.send({ topic: cfg.topic, acks: -1, compression: COMPRESSION[cfg.compression], messages });
        lastError = "";
      } catch (e) {
        lastError = describeKafkaError(e, cfg);
        log.warn({ err: lastError, events: messages.length }, "Kafka did not take a batch: its requests were answered 503");
        throw e;
      }
    },
    (m) => (m.value as Buffer).length + 40,
    { maxBytes: MAX_SEND_BYTES, maxPending: MAX_PENDING_BYTES },
  );

  let fatal: string | undefined;
  const notReady = (): string[] => {
    const waiting = batcher.sendingSince && Date.now() - batcher.sendingSince > cfg.ackTimeout;
    return [
      ...(waiting ? [`kafka: a send has waited ${Math.round((Date.now() - batcher.sendingSince) / 1000)} s for acknowledgements${lastError ? ` (${lastError})` : ""}`] : []),
      ...(fatal ? [`stopping: ${fatal}`] : []),
    ];
  };
  let stopNow: () => void = () => {};
  const fatalStop = new Promise<void>((r) => (stopNow = r));
  const app = collectApp({
    settings: cfg,
    publish: (events: EventRecord[]) => batcher.submit(events.map((e) => ({ key: e.user_id, value: encode(e, format, schemaId) }))),
    notReady,
    failed: (e) => {
      const v = classify("collector producer", e);
      if (v.action !== "stop") return;
      fatal ??= v.line;
      stopNow();
    },
    tracker,
    shop: cfg.demoShop ? (shopHtml as unknown as string) : undefined,
  });

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: cfg.collectAddr.host, port: cfg.collectAddr.port, fetch: app.fetch, maxRequestBodySize: 1024 * 1024 });
  } catch (e) {
    await producer.disconnect().catch(() => {});
    throw new Error(`collector cannot listen on ${cfg.collectAddr.host}:${cfg.collectAddr.port} (${(e as Error).message}); set COLLECT_ADDR to a free port`);
  }
  const url = `http://${cfg.collectAddr.host}:${server.port}`;
  log.info({ url, tracker: `${url}/v1/tracker.js`, shop: cfg.demoShop ? `${url}/demo/shop` : undefined }, "collector listening");
  const started = performance.now();
  let sampled = 0;
  const status = startStatus(cfg.statusAddr, cfg.statusToken, {
    mode: "collect",
    notReady: async () => notReady(),
    sample: async () => {
      const accepted = await value(metrics.collectAccepted);
      const delta = accepted - sampled;
      sampled = accepted;
      return { accepted: delta };
    },
    status: async () => ({
      accepted: await value(metrics.collectAccepted), rejected: await value(metrics.collectRejected),
      requests: await value(metrics.collectRequests), pendingBytes: batcher.pending, url,
    }),
  });

  // Once a second: the pending gauge; and, so that nothing stalls in silence, a warning every 30 s while a send waits
  // past COLLECT_ACK_TIMEOUT (Kafka away).
  let warned = 0;
  const stallWatch = setInterval(() => {
    metrics.collectPending.set(batcher.pending);
    const stalled = notReady().find((r) => r.startsWith("kafka:"));
    if (stalled && Date.now() - warned >= 30_000) {
      warned = Date.now();
      log.warn({ pendingBytes: batcher.pending }, `${stalled}: requests are answered 503 meanwhile`);
    }
  }, 1000);
  const why = await Promise.race([stopping, fatalStop.then(() => "fatal")]);
  clearInterval(stallWatch);
  log.info({ why }, "stopping: no new requests; waiting for Kafka to acknowledge what was accepted");
  // Requests in flight finish; new connections are refused. Bounded: a send the broker never answers was answered
  // 503 at COLLECT_ACK_TIMEOUT already, and is not waited for longer than that again.
  await within(server.stop(), cfg.ackTimeout);
  if ((await within(batcher.drain(), cfg.ackTimeout)) === "timeout") {
    log.warn({ pendingBytes: batcher.pending }, "stopped with events Kafka had not acknowledged: their requests were answered 503, clients send them again");
  }
  await producer.disconnect().catch(() => {});
  await status?.stop();
  const summary = {
    accepted: await value(metrics.collectAccepted), rejected: await value(metrics.collectRejected),
    requests: await value(metrics.collectRequests), elapsedSec: Number(((performance.now() - started) / 1000).toFixed(3)),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  log.info(summary, "summary");
  if (fatal) {
    log.fatal({ err: fatal }, "events collect stopped");
    console.error(`events collect: ${fatal}`);
    return 1;
  }
  return 0;
}
