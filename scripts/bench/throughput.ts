/** The throughput phases over one backlog: the sink's ceiling, the pipeline's drain, reading alone, separate cores. */
import { cpus } from "node:os";
import { CassandraSink } from "../../src/cassandra/sink.ts";
import { loadConfig } from "../../src/cli/config.ts";
import { decodeEvent } from "../../src/codec/decode.ts";
import type { StoredEvent } from "../../src/codec/event.ts";
import { toEvent } from "../../src/codec/validate.ts";
import { setLogLevel } from "../../src/common/log.ts";
import { KafkaSource } from "../../src/consume/source.ts";
import { kafkaClient } from "../../src/kafka/client.ts";
import { eventSchedule } from "../../src/simulate/simulate.ts";
import { drop, events, perMillion, quiet, stackCpu, stackCpuSampler, stackPid, summaryOf } from "./measure.ts";
import { DEPLOYED_ENV, N, ORIGIN, run, say, SEED, USERS } from "./settings.ts";

/** The phases that read `topic` (the preloaded backlog); the separate-cores phase writes into `ks`. */
export function throughputPhases(topic: string, ks: { sepSink: string; sepPipe: string }) {
  const cfg = loadConfig("consume", [], {});
  const schedule = eventSchedule({ seed: SEED, users: USERS, origin: ORIGIN, eventStep: 1, outOfOrder: 0, lateFraction: 0, lateBy: 0 });
  const now = ORIGIN + N + 86_400_000;
  async function sinkCeiling(keyspace: string, n = N) {
    // As fast as the sink goes: two lanes of large slices keep every one of its SINK_CONCURRENCY
    // requests busy all the time (the pipeline's own chunks are smaller; that is its cost to bear).
    const lanes = 2;
    const chunk = 50_000;
    await quiet();
    const sink = await CassandraSink.open({ ...cfg, keyspace });
    const signal = new AbortController().signal;
    const cpu0 = process.cpuUsage();
    const stack0 = stackCpu();
    say(`writing ${n === N ? "the same " : ""}${n} events straight to Cassandra (${lanes} lanes, slices of ${chunk})`);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: lanes }, async () => {
      while (next < n) {
        const from = next;
        next = Math.min(n, next + chunk);
        // Generated slice by slice (the schedule is sequential, and this is synchronous): one lane generates
        // while the other writes, and the process never holds a million events (its GC would slow the sink).
        const slice: StoredEvent[] = new Array(next - from);
        for (let i = from; i < next; i++) slice[i - from] = toEvent(schedule(i), now);
        const rejected = await sink.write(slice, signal);
        if (rejected.length) throw new Error(`Cassandra rejected ${rejected.length} rows: ${rejected[0]!.detail}`);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const stackUse = perMillion(stack0, stackCpu(), n);
    await sink.close();
    await drop(keyspace);
    const r = {
      eventsPerSec: Math.round(n / seconds), seconds: Number(seconds.toFixed(2)),
      clientCpuSecPerMillion: Number((((cpu.user + cpu.system) / 1e6 / n) * 1e6).toFixed(1)),
      kafkaCpuSecPerMillion: stackUse.kafka, cassandraCpuSecPerMillion: stackUse.cassandra,
    };
    say(`sink ceiling: ${r.eventsPerSec} events/s`);
    return r;
  }

  /** Read the backlog with the pipeline's own source and decoding, no writes; and generating alone, for comparison. */
  let reads = 0;
  async function readFloor() {
    reads++;
    const gen0 = process.cpuUsage();
    let sum = 0;
    for (let i = 0; i < N; i++) sum += toEvent(schedule(i), now).eventTime & 1;
    const gen = process.cpuUsage(gen0);
    setLogLevel("warn"); // the source's "joined consumer group" is not part of the report
    const source = new KafkaSource(kafkaClient(cfg, "events-bench"), {
      topic, groupId: `bench-read-${run}-${reads}`, maxInFlight: cfg.maxInFlight, partitionsConcurrently: cfg.partitionsConcurrently,
      sessionTimeoutMs: cfg.sessionTimeout, fetchMaxBytes: cfg.fetchMaxBytes, commitIntervalMs: cfg.commitInterval, fetchMinBytes: cfg.fetchMinBytes, fetchMaxWaitMs: cfg.fetchMaxWait,
    }, () => {});
    let seen = 0;
    let start: { cpu: NodeJS.CpuUsage; stack: ReturnType<typeof stackCpu>; t: number } | undefined;
    const { promise, resolve } = Promise.withResolvers<{ cpu: NodeJS.CpuUsage; stack: ReturnType<typeof stackCpu>; seconds: number }>();
    await source.start(async ({ messages }) => {
      start ??= { cpu: process.cpuUsage(), stack: stackCpu(), t: performance.now() };
      const at = Date.now();
      // Exactly what the pipeline does with a record before it writes it (src/consume/pipeline.ts).
      for (const m of messages) sum += decodeEvent(m.value, "avro", at).eventTime & 1;
      seen += messages.length;
      if (seen === N) resolve({ cpu: process.cpuUsage(start.cpu), stack: stackCpu(), seconds: (performance.now() - start.t) / 1000 });
    });
    const end = await promise;
    await source.stop(1000);
    if (sum < 0) throw new Error("unreachable"); // keeps the work from being optimized away
    const perM = (c: NodeJS.CpuUsage) => Number((((c.user + c.system) / 1e6 / N) * 1e6).toFixed(1));
    return {
      eventsPerSec: Math.round(N / end.seconds), clientCpuSecPerMillion: perM(end.cpu),
      kafkaCpuSecPerMillion: perMillion(start!.stack, end.stack).kafka, generateCpuSecPerMillion: perM(gen),
    };
  }

  /** Sink ceiling and pipeline again, Cassandra pinned to CPU 0 and the rest to the others (taskset); then unpinned. */
  async function separateCores() {
    const n = cpus().length;
    if (n < 2 || !Bun.which("taskset")) return { skipped: n < 2 ? "one core" : "no taskset on this machine" };
    const all = `0-${n - 1}`;
    const rest = n === 2 ? "1" : `1-${n - 1}`;
    const pin = (p: string, cores: string) => {
      const r = Bun.spawnSync(["taskset", "-a", "-p", "-c", cores, p], { stdout: "ignore", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`taskset -a -p -c ${cores} ${p}: ${r.stderr.toString().trim()}`);
    };
    say(`separate cores: Cassandra on CPU 0; the bench, the consumer and Kafka on CPU ${rest}`);
    try {
      pin(stackPid("cassandra"), "0");
      pin(stackPid("kafka"), rest);
      pin(String(process.pid), rest); // the consumer, a child, inherits it
      const sink = await sinkCeiling(ks.sepSink);
      const pipe = await drain(ks.sepPipe, DEPLOYED_ENV);
      say(`separate cores: sink ${sink.eventsPerSec}, pipeline ${pipe.eventsPerSec} events/s`);
      return { cassandraCores: "0", otherCores: rest, sink, pipeline: pipe, ratioToSink: Number((pipe.eventsPerSec / sink.eventsPerSec).toFixed(3)) };
    } finally {
      for (const p of [stackPid("cassandra"), stackPid("kafka"), String(process.pid)]) pin(p, all);
    }
  }

  /** Drain the backlog with `dist/events consume --exit-when-idle` into a fresh keyspace. */
  async function drain(keyspace: string, env: Record<string, string>) {
    await quiet();
    const sampler = stackCpuSampler();
    const r = await events(["consume", "--exit-when-idle", "3s"], { KAFKA_TOPIC: topic, KAFKA_GROUP_ID: `${keyspace}-group`, CASSANDRA_KEYSPACE: keyspace, ...env });
    sampler.stop();
    const s = summaryOf(r);
    // Kafka and Cassandra are charged for the consumer's busy window only, as the sink phase is for its writes.
    const stackUse = perMillion(sampler.at(Date.parse(s.busyFrom)), sampler.at(Date.parse(s.busyTo) + 100));
    await drop(keyspace);
    if (s.consumed !== N || s.written !== N) throw new Error(`pipeline consumed ${s.consumed} and wrote ${s.written} of ${N}`);
    return {
      eventsPerSec: s.eventsPerSec as number, seconds: s.busySec as number, peakRssMB: r.maxRssMB,
      cpuSecPerMillion: Number(((r.cpuSec / N) * 1e6).toFixed(1)), kafkaCpuSecPerMillion: stackUse.kafka, cassandraCpuSecPerMillion: stackUse.cassandra,
    };
  }


  return { cfg, sinkCeiling, readFloor, separateCores, drain };
}
