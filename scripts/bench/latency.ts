/** The latency phase: a steady rate through a caught-up consumer, and `--sweep` over several rates. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Kafka } from "kafkajs";
import { stackPaths } from "../stack.ts";
import {
  compacting, drop, events, idleCores, idleTicks, latencyBuckets, machine, minus, plus, quantiles, quiet, SATURATED_IDLE_CORES,
  summaryOf, until, versions, writeReport,
} from "./measure.ts";
import { COMPACTION_WAIT, DEPLOYED_ENV, LATENCY_SECONDS, opt, run, say, STATUS, LATENCY_STATUS_ADDR, USERS, WARMUP } from "./settings.ts";


/**
 * Latency under steady load: `events simulate` at `rate` into `topic` for a warm-up and the measured window,
 * while a caught-up `dist/events consume` (as deployed) writes into `keyspace`, whose table compacts as in
 * real use. Read from the consumer's end-to-end histogram (the difference of two scrapes), as Prometheus'
 * histogram_quantile would; and the same window second by second, split into the seconds in which Cassandra
 * was compacting the table and the others (on two shared cores a compaction takes one of them), and
 * Cassandra's GC pauses in the window, from its log.
 */
export async function latencyAt(rate: number, keyspace: string, topic: string) {
  say(`latency: simulate at ${rate} events/s for ${WARMUP}s of warm-up${COMPACTION_WAIT > 0 ? ` and until the table's first compaction has finished (at most ${COMPACTION_WAIT}s more)` : ""}, then ${LATENCY_SECONDS}s measured, while consuming`);
  let windowBuckets: { before: Map<number, number>; after: Map<number, number> } | undefined;
  const seconds: { compacting: boolean; idleCores: number; buckets: Map<number, number> }[] = [];
  let firstCompaction = { finished: false, afterSec: 0 };
  const windowAt = { from: 0, to: 0 }; // epoch ms, to match the GC log's clock
  const lat = await events(["consume", "--exit-when-idle", "3s", "--status-addr", LATENCY_STATUS_ADDR],
    { KAFKA_TOPIC: topic, KAFKA_GROUP_ID: `bench-lat-${topic}`, CASSANDRA_KEYSPACE: keyspace, ...DEPLOYED_ENV }, async () => {
      await until(async () => (await fetch(`${STATUS}/readyz`).catch(() => null))?.status === 200, 60_000);
      // The simulator is stopped when the window ends; its duration only bounds it should the bench die.
      let windowDone!: () => void;
      const windowEnded = new Promise<void>((r) => (windowDone = r));
      const t0 = performance.now();
      // With a margin: should the simulator stop before the window ends, the consumer exits when idle and the
      // window's last scrapes find no status server (an hour-long window failed so, 2026-12-02).
      const producing = events(["simulate", "--topic", topic, "--rate", String(rate),
        "--duration", `${WARMUP + COMPACTION_WAIT + LATENCY_SECONDS + 60}s`, "--users", String(USERS)], {}, undefined, windowEnded);
      await Bun.sleep(WARMUP * 1000);
      if (COMPACTION_WAIT > 0) {
        firstCompaction = await compactedOnce(keyspace, t0, COMPACTION_WAIT);
        say(firstCompaction.finished ? `latency: the table's first compaction finished ${firstCompaction.afterSec}s in; measuring`
          : `latency: no compaction of the table finished within ${firstCompaction.afterSec}s; measuring anyway`);
      }
      windowAt.from = Date.now();
      const before = await latencyBuckets(STATUS);
      let last = { buckets: before, compacting: await compacting(keyspace), idle: idleTicks() };
      // Seconds on the clock from the window's start, not 1 s after each sample: the scrapes and the compaction
      // query take some milliseconds every second, which over an hour outlasted the simulator's margin.
      const windowStart = performance.now();
      for (let s = 0; s < LATENCY_SECONDS; s++) {
        await Bun.sleep(Math.max(0, windowStart + (s + 1) * 1000 - performance.now()));
        const now = { buckets: await latencyBuckets(STATUS), compacting: await compacting(keyspace), idle: idleTicks() };
        seconds.push({ compacting: last.compacting || now.compacting, idleCores: idleCores(last.idle, now.idle), buckets: minus(now.buckets, last.buckets) });
        last = now;
      }
      windowAt.to = Date.now();
      windowDone();
      await producing;
      await until(async () => {
        // Processed, not committed: windows hold the last minutes' commits (docs/windows.md).
        const s = (await (await fetch(`${STATUS}/status`)).json()) as { inFlight: number; caughtUp: boolean };
        return s.inFlight === 0 && s.caughtUp;
      }, 60_000);
      windowBuckets = { before, after: await latencyBuckets(STATUS) };
    });
  const wholeRun = summaryOf(lat).latencyMs as { p99: number; max: number };
  if (!windowBuckets) throw new Error("no latency window was measured");
  const window = quantiles(windowBuckets.before, windowBuckets.after, wholeRun.max);
  const split = (which: (x: (typeof seconds)[number]) => boolean) => {
    const these = seconds.filter(which);
    return { seconds: these.length, ...quantiles(new Map(), these.reduce((a, x) => plus(a, x.buckets), new Map<number, number>()), wholeRun.max) };
  };
  const saturated = (x: (typeof seconds)[number]) => x.idleCores < SATURATED_IDLE_CORES;
  const byIdleCpu = {
    saturated: split(saturated), notSaturated: split((x) => !saturated(x)), saturatedBelowCores: SATURATED_IDLE_CORES,
    meanIdleCores: Number((seconds.reduce((a, x) => a + x.idleCores, 0) / Math.max(1, seconds.length)).toFixed(2)),
  };
  const cassandraGc = gcPauses(windowAt.from, windowAt.to);
  return { window, byCompaction: { compacting: split((x) => x.compacting), notCompacting: split((x) => !x.compacting) }, byIdleCpu, wholeRun, firstCompaction, cassandraGc };
}

/**
 * Cassandra's GC pauses between two instants (epoch ms), from the local stack's GC log (stack/cassandra/jvm.options
 * writes it; each line is stamped when its pause ended). Every pause stops Cassandra's writes, so it is part of the
 * end-to-end latency; mixed pauses come in bursts after a concurrent cycle of the old generation.
 */
export function gcPauses(from: number, to: number) {
  const dir = dirname(stackPaths.log("gc")); // gc.log and, once rotated, gc.log.0 and gc.log.1
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^gc\.log(\.\d+)?$/.test(f)) : [];
  if (files.length === 0) return { unavailable: `no GC log in ${dir} (a Cassandra not started by scripts/stack.ts?)` };
  let pauses = 0, mixed = 0, totalMs = 0, maxMs = 0;
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      const m = /^\[([^\]]+)\].* Pause (.+) ([\d.]+)ms$/.exec(line);
      const at = m ? Date.parse(m[1]!) : NaN;
      if (!m || !(at >= from && at <= to)) continue;
      const ms = Number(m[3]);
      pauses++;
      totalMs += ms;
      maxMs = Math.max(maxMs, ms);
      if (m[2]!.includes("(Mixed)")) mixed++;
    }
  }
  const secs = (to - from) / 1000;
  return { pauses, mixed, perSec: Number((pauses / secs).toFixed(2)), meanMs: pauses ? Math.round(totalMs / pauses) : 0,
    maxMs: Math.round(maxMs), stoppedPct: Number(((totalMs / 10) / secs).toFixed(1)) };
}

export const gcLine = (g: ReturnType<typeof gcPauses>) =>
  "unavailable" in g ? g.unavailable : `${g.pauses} pauses (${g.perSec}/s, ${g.mixed} mixed), mean ${g.meanMs} ms, longest ${g.maxMs} ms: stopped ${g.stoppedPct} % of the window`;

/** Waits until a compaction of the keyspace's table has been seen and then none runs, or `capSec` have passed
 *  (one of these tables' compactions takes 5 s or more: `until`'s polling sees it; on a cold Cassandra that fell
 *  behind, back-to-back compactions of its backlog count as one). */
export async function compactedOnce(keyspace: string, t0: number, capSec: number): Promise<{ finished: boolean; afterSec: number }> {
  let seen = false;
  const finished = await until(async () => {
    const now = await compacting(keyspace);
    const ended = seen && !now;
    seen ||= now;
    return ended;
  }, capSec * 1000).then(() => true, () => false);
  return { finished, afterSec: Math.round((performance.now() - t0) / 1000) };
}

/** `--sweep`: the latency phase alone at each rate, `--rounds` times; a table and JSON under .out/bench/. */
export async function sweep(rates: number[], admin: ReturnType<Kafka["admin"]>): Promise<void> {
  const rounds = Number(opt.rounds);
  const runs: ({ round: number; rate: number } & Omit<Awaited<ReturnType<typeof latencyAt>>, "wholeRun">)[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const rate of round % 2 ? rates : [...rates].reverse()) {
      const id = `${run}_${runs.length}`;
      const topic = `bench-sweep-${id}`;
      const keyspace = `bench_sweep_${id}`;
      await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
      await events(["migrate", "--keyspace", keyspace, "--log-level", "warn"]);
      await quiet();
      const { wholeRun: _, ...measured } = await latencyAt(rate, keyspace, topic);
      const { window } = measured;
      say(`round ${round}, ${rate} events/s: p50 ${window.p50} ms, p99 ${window.p99} ms, ${window.over250msPct} % over 250 ms`);
      runs.push({ round, rate, ...measured });
      await drop(keyspace);
      if (!opt.keep) await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    }
  }
  const { cassandraVersion, kafkaVersion } = await versions();
  const result = {
    date: new Date().toISOString(), machine: machine(),
    versions: { kafka: kafkaVersion, cassandra: cassandraVersion, bun: Bun.version },
    settings: { rates, rounds, users: USERS, warmupSec: WARMUP, compactionWaitSec: COMPACTION_WAIT, latencySeconds: LATENCY_SECONDS, env: DEPLOYED_ENV, compaction: "on (as in real use)" },
    runs,
  };
  const file = writeReport(`sweep-${result.date}`, result);
  const rows = rates.map((rate) => {
    const these = runs.filter((r) => r.rate === rate);
    const met = these.filter((r) => r.window.p99 <= 250).length;
    const each = these.map((r) => `${r.window.p99} (${r.window.over250msPct} %; ${r.byCompaction.compacting.seconds} s compacting; ${r.byIdleCpu.saturated.seconds} s saturated, p99 ${r.byIdleCpu.saturated.seconds ? r.byIdleCpu.saturated.p99 : "-"} / ${r.byIdleCpu.notSaturated.seconds ? r.byIdleCpu.notSaturated.p99 : "-"} ms)`).join(", ");
    return `| ${rate} | ${these.map((r) => r.window.p50).join(", ")} | ${each} | ${met} of ${these.length} |`;
  });
  console.log(`
| events/s | p50, ms | p99, ms (share over 250 ms; seconds of the window Cassandra was compacting; seconds the machine was saturated, and the p99 in those seconds / in the others) | p99 ≤ 250 ms |
| --- | --- | --- | --- |
${rows.join("\n")}

${result.machine.cores} cores (${result.machine.cpu}), Kafka ${kafkaVersion}, Cassandra ${cassandraVersion}, Bun ${Bun.version}; ${USERS} users, 3 partitions, Avro; ${WARMUP}s of warm-up${COMPACTION_WAIT > 0 ? ` and until the table's first compaction had finished (at most ${COMPACTION_WAIT}s more: ${runs.map((r) => (r.firstCompaction.finished ? `${r.firstCompaction.afterSec}s` : "none")).join(", ")})` : ""}, then ${LATENCY_SECONDS}s measured per run; the table compacts.
JSON: ${file}`);
}

export const secondsLine = (x: { seconds: number; p50: number; p99: number; count: number }) =>
  x.seconds === 0 ? "0 s" : `${x.seconds} s, ${x.count} events: p50 ${x.p50} ms, p99 ${x.p99} ms`;
