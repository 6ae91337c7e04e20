/**
 * `bun run bench --collect`: the collector (`dist/events collect`) on the local Kafka, driven over HTTP by
 * concurrent clients from this process, each POSTing batches of 20 events (JSON, as the tracker sends them).
 *
 *   1. capacity  --clients clients, each sending its next batch when the last is answered, for --collect-seconds
 *                (after a warm-up of 3 s): events/s accepted (202), the collector's CPU seconds per million events
 *                and Kafka's, and the collector's peak RSS
 *   2. latency   half that rate, paced open-loop (each request leaves at its scheduled time, answered or not, so
 *                that a slow answer cannot hide the requests it would have delayed): p50, p99, max request latency
 *   3. check     the topic holds at least as many records as were acknowledged (nothing acknowledged is lost)
 *
 *   bun run bench --collect [--clients 32] [--collect-seconds 20] [--no-heap-hint] [--save]
 *
 * The collector runs with the environment deploy/events-collect.service gives it (--no-heap-hint: without).
 */
import { readFileSync } from "node:fs";
import { Kafka, logLevel } from "kafkajs";
import { CLOCK_TICKS, machine, peakRssMB, stackCpu, versions, writeReport } from "./measure.ts";
import { BIN, opt, ROOT, say, unitEnv } from "./settings.ts";

const BATCH = 20;
const ADDR = "127.0.0.1:9480";
const URL_ = `http://${ADDR}/v1/events`;

const cpuOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
};

/** A batch of 20 tracker-like events, with fresh event ids; user ids from a pool of 10,000. */
let seq = 0;
const users = Array.from({ length: 10_000 }, () => crypto.randomUUID());
function body(): string {
  const now = Date.now();
  const out: string[] = [];
  for (let i = 0; i < BATCH; i++) {
    const n = seq++;
    out.push(`{"user_id":"${users[n % users.length]}","event_type":"${n % 3 ? "CLICK" : "PAGE_VIEW"}","event_time":${now},"event_id":"${crypto.randomUUID()}",` +
      `"metadata":{"session_id":"${users[(n * 7) % users.length]}","page":"/item/${n % 500}","referrer":"https://search.example/?q=${n % 97}","device":"desktop 1400x1000"}}`);
  }
  return `[${out.join(",")}]`;
}

async function post(): Promise<number> {
  const r = await fetch(URL_, { method: "POST", body: body(), headers: { "Content-Type": "text/plain", "User-Agent": "events-bench" } });
  await r.arrayBuffer();
  return r.status;
}

export async function collectBench(): Promise<void> {
  const clients = Number(opt.clients);
  const seconds = Number(opt["collect-seconds"]);
  const kafka = new Kafka({ brokers: ["127.0.0.1:9092"], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench-collect-${Date.now().toString(36)}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  const proc = Bun.spawn([BIN, "collect", "--topic", topic, "--collect-addr", ADDR, "--status-addr", "off", "--log-level", "warn"], {
    // As deploy/events-collect.service runs it (the heap hint): measured as deployed.
    cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...(opt["no-heap-hint"] ? {} : unitEnv("events-collect.service")) }, stdout: "inherit", stderr: "inherit",
  });
  try {
    const deadline = Date.now() + 30_000;
    while ((await fetch(`http://${ADDR}/readyz`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error("the collector did not come up");
      await Bun.sleep(200);
    }
    let accepted = 0;
    const statuses: Record<string, number> = {};
    const closedLoop = async (ms: number) => {
      const end = performance.now() + ms;
      await Promise.all(Array.from({ length: clients }, async () => {
        while (performance.now() < end) {
          const s = await post().catch(() => 0);
          statuses[s] = (statuses[s] ?? 0) + 1;
          if (s === 202) accepted += BATCH;
        }
      }));
    };
    say(`collector: warm-up 3 s, then ${clients} clients for ${seconds} s, batches of ${BATCH}`);
    await closedLoop(3000);
    const a0 = accepted, c0 = cpuOf(proc.pid), k0 = stackCpu().kafka, t0 = performance.now();
    await closedLoop(seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const n = accepted - a0;
    const capacity = Math.round(n / wall);
    const collectorCpu = ((cpuOf(proc.pid) - c0) / n) * 1e6;
    const kafkaCpu = ((stackCpu().kafka - k0) / n) * 1e6;
    say(`capacity: ${capacity} events/s accepted; collector ${collectorCpu.toFixed(1)} CPU s/M, Kafka ${kafkaCpu.toFixed(1)} CPU s/M`);

    // Half that rate, open-loop: request i leaves at t0 + i / rate.
    const rate = Math.floor(capacity / 2);
    const perSec = rate / BATCH;
    const latencies: number[] = [];
    let failed = 0;
    const start = performance.now();
    const total = Math.floor(perSec * seconds);
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / perSec;
      const wait = due - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      inFlight.push(post().then((s) => {
        if (s === 202) accepted += BATCH;
        else failed++;
        latencies.push(performance.now() - due);
      }, () => void failed++));
    }
    await Promise.all(inFlight);
    latencies.sort((x, y) => x - y);
    const q = (p: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1));
    const latency = { rate, requests: latencies.length, failed, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: Number(latencies.at(-1)!.toFixed(1)) };
    say(`latency at ${rate} events/s: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms (${failed} not 202)`);
    const peakRss = peakRssMB(proc.pid);
    proc.kill("SIGTERM");
    const code = await proc.exited;
    const offsets = await admin.fetchTopicOffsets(topic);
    const inTopic = offsets.reduce((s, p) => s + Number(p.high), 0);
    say(`the topic holds ${inTopic} records; ${accepted} were acknowledged (collector exit ${code})`);
    if (inTopic < accepted) throw new Error(`${accepted - inTopic} acknowledged events are missing from the topic`);
    const file = writeReport(`collect-${new Date().toISOString()}`, {
      at: new Date().toISOString(), machine: machine(), ...(await versions()), clients, batch: BATCH, seconds,
      capacity: { eventsPerSec: capacity, collectorCpuSecPerM: Number(collectorCpu.toFixed(2)), kafkaCpuSecPerM: Number(kafkaCpu.toFixed(2)), statuses },
      latency, collectorPeakRssMB: peakRss, environment: opt["no-heap-hint"] ? {} : unitEnv("events-collect.service"), acknowledged: accepted, inTopic, exitCode: code,
      goal: { eventsPerSec: 20_000, met: capacity >= 20_000 },
    });
    console.log([
      "| collector | |", "| --- | --- |",
      `| accepted, ${clients} clients, batches of ${BATCH} | ${capacity.toLocaleString("en")} events/s (goal ≥ 20,000: ${capacity >= 20_000 ? "✓" : "✗"}) |`,
      `| request latency at ${rate.toLocaleString("en")} events/s | p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms |`,
      `| CPU per million events | collector ${collectorCpu.toFixed(1)} s, Kafka ${kafkaCpu.toFixed(1)} s |`,
      `| collector peak RSS | ${peakRss} MB |`,
      `| acknowledged / in the topic | ${accepted.toLocaleString("en")} / ${inTopic.toLocaleString("en")} |`,
    ].join("\n"));
    say(`report: ${file}`);
  } finally {
    proc.kill("SIGKILL");
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
}
