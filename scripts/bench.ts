#!/usr/bin/env bun
/**
 * `bun run bench`: the pipeline against the speed of its sink, in one run, on the local stack.
 *
 *   1. preload  a fresh 3-partition topic with N events in the design's Avro (`events simulate --rate 0`)
 *   2. sink     the same N events written straight to Cassandra by src/cassandra/sink.ts, no Kafka: the ceiling
 *               (measured again after step 3, and averaged: the shared machine's speed drifts)
 *   3. pipeline `dist/events consume --exit-when-idle` from the start of that backlog, with the environment
 *               deploy/events-consume.service gives it: events/s, peak RSS, CPU seconds per million events;
 *               then once more without that environment, for comparison; then reading + decoding the backlog
 *               alone (no writes), the CPU the pipeline needs on top of the sink's; then sink and pipeline again
 *               with Cassandra on a core of its own (taskset), as when consumers run on their own machines
 *   4. latency  `events simulate` at a steady rate (default half the pipeline's throughput) for 60 s while
 *               a caught-up consumer runs: p50, p99, max end-to-end (Kafka record time → Cassandra ack)
 *   5. report   one markdown table on stdout, and JSON under .out/bench/
 *
 *   bun run bench [--events 1000000] [--latency-seconds 60] [--warmup-seconds 10] [--compaction-wait-seconds 90]
 *                 [--rate <events/s>] [--users 10000] [--keep]
 *
 * Or only the latency phase, at several rates, to find the rate up to which the p99 target holds:
 *
 *   bun run bench --sweep 12000,16000,20000,24000 [--rounds 2] [--latency-seconds 60] [--warmup-seconds 10] [--compaction-wait-seconds 90]
 *
 * Each round runs the rates in turn, ascending, then descending in the next round (so that a drift of the
 * shared machine's speed is not read as an effect of the rate), each in a fresh topic and keyspace.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import cassandra from "cassandra-driver";
import { Kafka, logLevel } from "kafkajs";
import "../src/kafka/quiet.ts";
import { loadConfig } from "../src/cli/config.ts";
import type { StoredEvent } from "../src/codec/event.ts";
import { CassandraSink } from "../src/cassandra/sink.ts";
import { eventSchedule } from "../src/simulate/simulate.ts";
import { decodeEvent } from "../src/codec/decode.ts";
import { kafkaClient } from "../src/kafka/client.ts";
import { setLogLevel } from "../src/common/log.ts";
import { KafkaSource } from "../src/consume/source.ts";
import { toEvent } from "../src/codec/validate.ts";
import { stack, stackPaths } from "./stack.ts";

const ROOT = resolve(import.meta.dir, "..");
const BIN = join(ROOT, "dist/events");
const { values: opt } = parseArgs({
  args: process.argv.slice(2),
  options: {
    events: { type: "string", default: "1000000" },
    "latency-seconds": { type: "string", default: "60" },
    "warmup-seconds": { type: "string", default: "10" },
    "compaction-wait-seconds": { type: "string", default: "90" },
    rate: { type: "string" },
    users: { type: "string", default: "10000" },
    keep: { type: "boolean", default: false },
    sweep: { type: "string" },
    rounds: { type: "string", default: "2" },
  },
});
const N = Number(opt.events);
const LATENCY_SECONDS = Number(opt["latency-seconds"]);
const USERS = Number(opt.users);
const SWEEP = opt.sweep === undefined ? null : opt.sweep.split(",").map(Number);
if (SWEEP?.some((r) => !Number.isInteger(r) || r <= 0) || !(Number(opt.rounds) >= 1) || !(Number(opt["warmup-seconds"]) >= 0) || !(Number(opt["compaction-wait-seconds"]) >= 0)) {
  console.error(`bench: --sweep takes rates in events/s, such as 12000,16000,20000, --rounds a count, --warmup-seconds and --compaction-wait-seconds seconds: got "${opt.sweep}", "${opt.rounds}", "${opt["warmup-seconds"]}" and "${opt["compaction-wait-seconds"]}"`);
  process.exit(2);
}
const SEED = 20261122;
/** The environment deploy/events-consume.service gives the binary (the heap-sizing hint, Bun's counterpart of
 *  Node's --max-old-space-size, and the allocator's purge delay): the pipeline is measured as deployed. */
const DEPLOYED_ENV = Object.fromEntries(
  [...readFileSync(join(ROOT, "deploy/events-consume.service"), "utf8").matchAll(/^Environment=((?:BUN|MIMALLOC)_\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]),
);
const HEAP_HINT = Object.entries(DEPLOYED_ENV).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)";
const ORIGIN = Date.parse("2026-11-22T00:00:00Z");
const run = Date.now().toString(36);
const say = (msg: string) => console.error(`bench: ${msg}`);

interface ProcResult {
  code: number;
  lines: Record<string, unknown>[];
  maxRssMB: number;
  cpuSec: number;
  wallSec: number;
}

/** The pid of the local stack's `kafka` or `cassandra`, as the stack script recorded it. */
const stackPid = (name: string) => readFileSync(stackPaths.pid(name), "utf8").trim();

/** Linux's clock ticks per second in /proc (USER_HZ): 100 on every architecture Bun runs on. */
const CLOCK_TICKS = 100;

/** CPU seconds used so far by the local Kafka and Cassandra. */
function stackCpu(): { kafka: number; cassandra: number } {
  const cpu = (name: string) => {
    try {
      const pid = stackPid(name);
      const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS; // utime + stime
    } catch {
      return Number.NaN;
    }
  };
  return { kafka: cpu("kafka"), cassandra: cpu("cassandra") };
}

/**
 * The stack's CPU time sampled every 100 ms while a child process runs, so that a phase is charged only
 * for its busy window (its first record to its last write), not for its start-up and idle tail.
 */
function stackCpuSampler() {
  const samples: { t: number; kafka: number; cassandra: number }[] = [{ t: Date.now(), ...stackCpu() }];
  const timer = setInterval(() => samples.push({ t: Date.now(), ...stackCpu() }), 100);
  return {
    stop: () => clearInterval(timer),
    /** The last reading at or before t (readings are 100 ms apart; /proc counts in 10 ms ticks). */
    at: (t: number) => samples.findLast((x) => x.t <= t) ?? samples[0]!,
  };
}

/** CPU seconds per million events of Kafka and Cassandra between two readings. */
function perMillion(a: { kafka: number; cassandra: number }, b: { kafka: number; cassandra: number }, n = N) {
  return { kafka: Number((((b.kafka - a.kafka) / n) * 1e6).toFixed(1)), cassandra: Number((((b.cassandra - a.cassandra) / n) * 1e6).toFixed(1)) };
}

/** Peak RSS (VmHWM) of a live process, in MB; null once it is gone. */
function peakRssMB(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** Run `events …` to completion; its JSON log lines, exit code, peak RSS and CPU time. */
async function events(args: string[], env: Record<string, string> = {}, onStart?: () => Promise<void>, stopWhen?: Promise<unknown>): Promise<ProcResult> {
  const t0 = performance.now();
  const proc = Bun.spawn([BIN, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", STATUS_ADDR: "off", LOG_LEVEL: "info", ...env },
    stdout: "pipe", stderr: "inherit",
  });
  const out = new Response(proc.stdout).text();
  // VmHWM is the process's own high-water mark; read it until the process ends (the last read is
  // at most 50 ms old, and the peak is reached long before exit).
  let maxRssMB = 0;
  const poll = setInterval(() => {
    maxRssMB = Math.max(maxRssMB, peakRssMB(proc.pid) ?? 0);
  }, 50);
  void stopWhen?.then(() => proc.kill("SIGTERM")); // `simulate` and `consume` take it as a stop: drain, exit 0
  if (onStart) await onStart();
  const code = await proc.exited;
  clearInterval(poll);
  const usage = proc.resourceUsage();
  const lines = (await out).split("\n").filter(Boolean).map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return { raw: l };
    }
  });
  if (code !== 0) throw new Error(`events ${args.join(" ")} exited ${code}:\n${lines.slice(-5).map((l) => JSON.stringify(l)).join("\n")}`);
  return {
    code, lines, wallSec: (performance.now() - t0) / 1000,
    maxRssMB,
    cpuSec: Number(usage?.cpuTime.total ?? 0) / 1e6,
  };
}

async function until(ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await Bun.sleep(200);
  }
}

/** The bench's own queries (compaction state, drops, the version) share one client, connected on first use. */
const control = new cassandra.Client({ contactPoints: ["127.0.0.1:9042"], localDataCenter: "datacenter1" });
function cql(query: string): Promise<cassandra.types.ResultSet> {
  return control.execute(query);
}

/** Every write phase starts from a quiet Cassandra: no compaction left over from the one before (2 minutes at most). */
async function quiet(): Promise<void> {
  try {
    await until(async () => (await cql("SELECT * FROM system_views.sstable_tasks")).rowLength === 0, 120_000);
  } catch {
    say("compactions still running; measuring anyway");
  }
}

/**
 * A phase's keyspace is dropped as soon as it is measured (the local stack has auto_snapshot off, so
 * nothing is flushed): otherwise its memtables would be flushed during the next phase, and charged to it.
 */
async function drop(keyspace: string): Promise<void> {
  if (!opt.keep) await cql(`DROP KEYSPACE IF EXISTS ${keyspace}`);
}

/** Cumulative counts of the end-to-end latency histogram, by upper bound in seconds. */
async function latencyBuckets(status: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${status}/metrics`)).text();
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^events_end_to_end_latency_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) {
    out.set(m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
  }
  return out;
}

/** Whether Cassandra is compacting a table of the keyspace now. */
async function compacting(keyspace: string): Promise<boolean> {
  const tasks = await cql("SELECT keyspace_name, kind FROM system_views.sstable_tasks");
  return tasks.rows.some((t) => t.keyspace_name === keyspace && String(t.kind).toLowerCase() === "compaction");
}

/**
 * A second of the latency window counts as saturated when the machine had less than this much CPU idle in
 * it (in cores): then whatever Cassandra, the consumer, Kafka and the simulator ask for waits its turn.
 */
const SATURATED_IDLE_CORES = 0.15;

/** The machine's idle CPU time so far (idle and iowait, all cores), in seconds, and when it was read. */
function idleTicks(): { sec: number; at: number } {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { sec: ((cpu[3] ?? 0) + (cpu[4] ?? 0)) / CLOCK_TICKS, at: performance.now() };
}
const idleCores = (a: { sec: number; at: number }, b: { sec: number; at: number }) =>
  Number(((b.sec - a.sec) / Math.max(0.001, (b.at - a.at) / 1000)).toFixed(2));

/** Bucket counts a − b, and a + b. */
const minus = (a: Map<number, number>, b: Map<number, number>) => new Map([...a].map(([k, v]) => [k, v - (b.get(k) ?? 0)]));
const plus = (a: Map<number, number>, b: Map<number, number>) => new Map([...b].map(([k, v]) => [k, v + (a.get(k) ?? 0)]));

/**
 * p50 and p99 of the events between two scrapes, interpolated within a bucket (histogram_quantile), and
 * never above maxMs, the largest latency recorded: in a wide bucket (2.5–5 s) interpolation can go past it.
 */
function quantiles(before: Map<number, number>, after: Map<number, number>, maxMs = Infinity): { p50: number; p99: number; count: number; over250msPct: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  const q = (phi: number) => {
    const rank = phi * total;
    for (let i = 0; i < bounds.length; i++) {
      if (counts[i]! >= rank) {
        const lo = i === 0 ? 0 : bounds[i - 1]!;
        const hi = bounds[i]!;
        if (!Number.isFinite(hi)) return Math.round(lo * 1000);
        const below = i === 0 ? 0 : counts[i - 1]!;
        return Math.round(Math.min(maxMs, (lo + ((hi - lo) * (rank - below)) / Math.max(1, counts[i]! - below)) * 1000));
      }
    }
    return Number.NaN;
  };
  // The share of events over the 250 ms target (a bucket bound, so exact).
  const at250 = counts[bounds.indexOf(0.25)] ?? Number.NaN;
  return { p50: q(0.5), p99: q(0.99), count: total, over250msPct: total ? Number((((total - at250) / total) * 100).toFixed(2)) : 0 };
}

const summaryOf = (r: ProcResult) => r.lines.find((l) => l.msg === "summary") as Record<string, any>;

const WARMUP = Number(opt["warmup-seconds"]);
/**
 * After the warm-up, the window waits (at most this long) for the table's first compaction to finish. The first
 * compaction after Cassandra starts also compiles its code: its JIT took 0.2-0.5 of a core for 3-5 s on top of
 * the compaction's own (per-thread CPU, 2026-11-23), and those seconds' p99 was 400-750 ms where the next
 * compactions' stayed under 250. A node pays that once per start; a window that always began 10 s in caught it
 * whenever the bench ran on a fresh Cassandra (as after `stack up`), and a steady state is what the window is for.
 * Later compactions come at their own pace inside the window, as in real use.
 */
const COMPACTION_WAIT = Number(opt["compaction-wait-seconds"]);
/** The latency phase's consumer serves its status here: the bench reads its histogram and lag from it. */
const LATENCY_STATUS_ADDR = "127.0.0.1:9470";
const STATUS = `http://${LATENCY_STATUS_ADDR}`;

/**
 * Latency under steady load: `events simulate` at `rate` into `topic` for a warm-up and the measured window,
 * while a caught-up `dist/events consume` (as deployed) writes into `keyspace`, whose table compacts as in
 * real use. Read from the consumer's end-to-end histogram (the difference of two scrapes), as Prometheus'
 * histogram_quantile would; and the same window second by second, split into the seconds in which Cassandra
 * was compacting the table and the others (on two shared cores a compaction takes one of them), and
 * Cassandra's GC pauses in the window, from its log.
 */
async function latencyAt(rate: number, keyspace: string, topic: string) {
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
        const s = (await (await fetch(`${STATUS}/status`)).json()) as { inFlight: number; partitions: { lag: number | null }[] };
        return s.inFlight === 0 && s.partitions.every((p) => p.lag === 0);
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
function gcPauses(from: number, to: number) {
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

const gcLine = (g: ReturnType<typeof gcPauses>) =>
  "unavailable" in g ? g.unavailable : `${g.pauses} pauses (${g.perSec}/s, ${g.mixed} mixed), mean ${g.meanMs} ms, longest ${g.maxMs} ms: stopped ${g.stoppedPct} % of the window`;

/** Waits until a compaction of the keyspace's table has been seen and then none runs, or `capSec` have passed
 *  (one of these tables' compactions takes 5 s or more: `until`'s polling sees it; on a cold Cassandra that fell
 *  behind, back-to-back compactions of its backlog count as one). */
async function compactedOnce(keyspace: string, t0: number, capSec: number): Promise<{ finished: boolean; afterSec: number }> {
  let seen = false;
  const finished = await until(async () => {
    const now = await compacting(keyspace);
    const ended = seen && !now;
    seen ||= now;
    return ended;
  }, capSec * 1000).then(() => true, () => false);
  return { finished, afterSec: Math.round((performance.now() - t0) / 1000) };
}

async function versions() {
  const cassandraVersion = (await cql("SELECT release_version FROM system.local")).first().release_version as string;
  const kafkaVersion = /<kafka.version>([^<]+)/.exec(readFileSync(join(ROOT, "stack/kafka/pom.xml"), "utf8"))?.[1];
  return { cassandraVersion, kafkaVersion };
}

/** A report as JSON under the git-ignored .out/bench/, named for its date (`:` is not welcome in file names); its path. */
function writeReport(name: string, result: object): string {
  const out = join(ROOT, ".out/bench");
  mkdirSync(out, { recursive: true });
  const file = join(out, `${name.replaceAll(":", "-")}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  return file;
}

const machine = () => ({ cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30) });

/** `--sweep`: the latency phase alone at each rate, `--rounds` times; a table and JSON under .out/bench/. */
async function sweep(rates: number[], admin: ReturnType<Kafka["admin"]>): Promise<void> {
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

const secondsLine = (x: { seconds: number; p50: number; p99: number; count: number }) =>
  x.seconds === 0 ? "0 s" : `${x.seconds} s, ${x.count} events: p50 ${x.p50} ms, p99 ${x.p99} ms`;

async function main(): Promise<void> {
  if ((await stack(["up"])) !== 0) throw new Error("the local stack did not come up");
  say("building dist/events");
  const b = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
  if (b.exitCode !== 0) throw new Error("bun run build failed");

  const kafka = new Kafka({ brokers: ["127.0.0.1:9092"], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  if (SWEEP) {
    await sweep(SWEEP, admin);
    await admin.disconnect();
    await control.shutdown();
    return;
  }
  const topic = `bench-${run}`;
  const latencyTopic = `bench-latency-${run}`;
  await admin.createTopics({ topics: [topic, latencyTopic].map((t) => ({ topic: t, numPartitions: 3, replicationFactor: 1 })), waitForLeaders: true });
  const ks = { warmup: `bench_warm_${run}`, sink: `bench_sink_${run}`, pipeline: `bench_pipe_${run}`, pipeline2: `bench_pipe2_${run}`, sink2: `bench_sink2_${run}`, bare: `bench_bare_${run}`, sepSink: `bench_sepsink_${run}`, sepPipe: `bench_seppipe_${run}`, latency: `bench_lat_${run}` };
  for (const k of Object.values(ks)) await events(["migrate", "--keyspace", k, "--log-level", "warn"]);
  // The throughput phases' tables do not compact. Size-tiered compaction starts after the fourth memtable
  // flush (about 700,000 rows in) and then takes one of the two cores for ~7 s: the same deferred work for
  // both phases (the same rows), but the slower phase gets more of it inside its window, so it was charged
  // against the pipeline (alternating 1M runs: Cassandra +5 to +11 CPU s per million under the pipeline with
  // compaction, 0 to +3 without; ratio 80 and 86 % with, 90 and 101 % without). The warm-up and the latency
  // phase keep it: there it is part of what is measured.
  for (const k of [ks.sink, ks.sink2, ks.pipeline, ks.pipeline2, ks.bare, ks.sepSink, ks.sepPipe]) {
    await cql(`ALTER TABLE ${k}.user_events WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}`);
  }

  // 1. Preload.
  say(`preloading ${N} events into ${topic}`);
  const preload = await events(["simulate", "--topic", topic, "--count", String(N), "--rate", "0", "--format", "avro",
    "--seed", String(SEED), "--users", String(USERS), "--start", new Date(ORIGIN).toISOString()]);
  const produced = summaryOf(preload);

  // 2. The sink's ceiling: the same events, generated by the simulator's own schedule, straight into Cassandra.
  //    Measured twice, before and after the pipeline, so that a drift of the shared machine's speed
  //    during the run does not pass for a difference between the two.
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
      sessionTimeoutMs: cfg.sessionTimeout, fetchMaxBytes: cfg.fetchMaxBytes, commitIntervalMs: cfg.commitInterval,
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

  // Warm-up, not measured: a Java process compiles its hot paths during the first minute of load. Measured
  // cold, the first phase after `stack up` cost Cassandra 63 CPU s per million events instead of 35.
  // Not a fixed amount: right after `stack up`, a run whose warm-up wrote 300,000 events (and another, 600,000
  // and a read of the backlog) still measured Cassandra at 39–41 and the broker at 2.9–3.3 CPU s per million in
  // its first phases, against 23–28 and 0.1–0.8 on a stack up for a while; its ratio was 79–85 % instead of
  // 91–93 %. So the backlog is read once, then slices are written until Cassandra's cost per event settles
  // (two rounds within 10 %, at most six).
  say("warming Kafka and Cassandra up (not measured) until Cassandra's CPU per event settles");
  await readFloor();
  const warmup: number[] = [];
  for (let round = 1; round <= 6; round++) {
    if (round > 1) await events(["migrate", "--keyspace", ks.warmup, "--log-level", "warn"]); // dropped after each round
    const w = await sinkCeiling(ks.warmup, Math.min(N, 400_000));
    const last = warmup.at(-1);
    warmup.push(w.cassandraCpuSecPerMillion);
    say(`warm-up ${round}: Cassandra ${w.cassandraCpuSecPerMillion} CPU s per million`);
    if (last !== undefined && Math.abs(w.cassandraCpuSecPerMillion - last) <= 0.1 * last) break;
  }
  const sink1 = await sinkCeiling(ks.sink);

  // 3. The pipeline from the start of the backlog, as deployed (the unit's environment); then the sink again,
  //    and the pipeline again: each phase is measured twice, interleaved, and averaged. Measured once, the
  //    same binary's drain cost 9.2 to 12.9 consumer CPU s per million from one run to the next (the shared
  //    machine's minute), which moved the ratio between 80 and 93 %.
  const drainOnce = async (keyspace: string) => {
    say(`draining the backlog with dist/events consume, as deployed (${HEAP_HINT})`);
    const r = await drain(keyspace, DEPLOYED_ENV);
    say(`pipeline: ${r.eventsPerSec} events/s, peak RSS ${r.peakRssMB} MB`);
    return r;
  };
  const pipe1 = await drainOnce(ks.pipeline);
  const sink2 = await sinkCeiling(ks.sink2);
  const pipe2 = await drainOnce(ks.pipeline2);
  const sinkRate = Math.round((sink1.eventsPerSec + sink2.eventsPerSec) / 2);
  const pipeRate = Math.round((pipe1.eventsPerSec + pipe2.eventsPerSec) / 2);
  const mean = (a: number, b: number) => Number(((a + b) / 2).toFixed(1));
  const pipe = {
    eventsPerSec: pipeRate, peakRssMB: Math.max(pipe1.peakRssMB, pipe2.peakRssMB),
    cpuSecPerMillion: mean(pipe1.cpuSecPerMillion, pipe2.cpuSecPerMillion),
    kafkaCpuSecPerMillion: mean(pipe1.kafkaCpuSecPerMillion, pipe2.kafkaCpuSecPerMillion),
    cassandraCpuSecPerMillion: mean(pipe1.cassandraCpuSecPerMillion, pipe2.cassandraCpuSecPerMillion),
    runs: [pipe1, pipe2],
  };

  // 3b. Again, without that environment (as `events consume` run by hand): what it buys.
  say("draining the backlog again without that environment");
  const bare = await drain(ks.bare, {});
  say(`pipeline without that environment: ${bare.eventsPerSec} events/s, peak RSS ${bare.peakRssMB} MB`);

  // 3c. What the pipeline does that the sink phase does not, measured alone: read the backlog from Kafka with
  //     src/consume/source.ts and decode + validate every record (src/codec/decode.ts), no writes. Less
  //     what the sink phase spends generating its events in memory, it is CPU the pipeline needs on top of
  //     the sink's: on cores they share, the ratio cannot beat sink / (sink + that), whatever the consumer does.
  const floor = await readFloor();
  say(`reading + decoding alone: ${floor.clientCpuSecPerMillion} + Kafka ${floor.kafkaCpuSecPerMillion} CPU s per million (generating: ${floor.generateCpuSecPerMillion})`);
  const sinkCpu = (r: typeof sink1) => r.clientCpuSecPerMillion + r.cassandraCpuSecPerMillion + r.kafkaCpuSecPerMillion;
  const sinkCpuMean = (sinkCpu(sink1) + sinkCpu(sink2)) / 2;
  const extra = floor.clientCpuSecPerMillion + floor.kafkaCpuSecPerMillion - floor.generateCpuSecPerMillion;
  const bound = Number((sinkCpuMean / (sinkCpuMean + extra)).toFixed(3));

  // 3d. The same sink and pipeline with Cassandra on a core of its own and everything else (bench, consumer,
  //     Kafka) on the other(s): as in production, where consumers run on their own VMs. Here the question is
  //     only whether the consumer keeps up with Cassandra, not how the CPU of one box is shared.
  const separate = await separateCores();

  await quiet();

  // 4. Latency under steady load (default: half the pipeline's throughput).
  const rate = opt.rate ? Number(opt.rate) : Math.max(100, Math.round(pipeRate / 2));
  const { window, byCompaction, byIdleCpu, wholeRun: ls, firstCompaction, cassandraGc } = await latencyAt(rate, ks.latency, latencyTopic);

  const { cassandraVersion, kafkaVersion } = await versions();

  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: { kafka: kafkaVersion, cassandra: cassandraVersion, bun: Bun.version, events: JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version },
    settings: { events: N, users: USERS, partitions: 3, format: "avro", maxInFlight: cfg.maxInFlight, sinkConcurrency: cfg.writeConcurrency,
      partitionsConcurrently: cfg.partitionsConcurrently, latencyRate: rate, latencySeconds: LATENCY_SECONDS,
      compaction: "off in the throughput phases' tables, on in the warm-up's and the latency phase's" },
    preload: { eventsPerSec: produced.eventsPerSec, peakRssMB: produced.peakRssMB },
    warmupCassandraCpuSecPerMillion: warmup,
    sink: { eventsPerSec: sinkRate, runs: [sink1, sink2] },
    pipeline: { env: DEPLOYED_ENV, ...pipe, ratioToSink: Number((pipeRate / sinkRate).toFixed(3)) },
    pipelineWithoutHeapHint: { ...bare, ratioToSink: Number((bare.eventsPerSec / sinkRate).toFixed(3)) },
    readAlone: { ...floor, extraCpuSecPerMillion: Number(extra.toFixed(1)), sinkCpuSecPerMillion: Number(sinkCpuMean.toFixed(1)), ratioBoundSharedCores: bound },
    separateCores: separate,
    latency: { rate, warmupSec: WARMUP, compactionWaitSec: COMPACTION_WAIT, firstCompaction, seconds: LATENCY_SECONDS, events: window.count, p50Ms: window.p50, p99Ms: window.p99, over250msPct: window.over250msPct,
      maxMsWholeRun: ls.max, p99MsWholeRun: ls.p99, byCompaction, byIdleCpu, cassandraGc },
    targets: {
      "pipeline >= 90% of sink": pipeRate >= 0.9 * sinkRate,
      "peak RSS <= 150 MB": pipe.peakRssMB <= 150,
      "p99 <= 250 ms": window.p99 <= 250,
    },
  };

  const file = writeReport(result.date, result);
  const ok = (b: boolean) => (b ? "✓" : "✗");
  console.log(`
| measure | value | target |
| --- | --- | --- |
| preload (simulate --rate 0) | ${result.preload.eventsPerSec} events/s, peak RSS ${result.preload.peakRssMB} MB | |
| sink ceiling (src/cassandra/sink.ts, no Kafka), before and after the pipeline | ${sinkRate} events/s (${sink1.eventsPerSec} and ${sink2.eventsPerSec}) | |
| pipeline: dist/events consume, ${N} backlog, as deployed (${HEAP_HINT}), twice | ${pipeRate} events/s (${pipe1.eventsPerSec} and ${pipe2.eventsPerSec}) = ${(result.pipeline.ratioToSink * 100).toFixed(1)}% of sink | ≥ 90% ${ok(result.targets["pipeline >= 90% of sink"])} |
| pipeline peak RSS (the higher of the two) | ${pipe.peakRssMB} MB | ≤ 150 MB ${ok(result.targets["peak RSS <= 150 MB"])} |
| where the CPU goes, s per million events | sink: client ${sink1.clientCpuSecPerMillion} + Cassandra ${sink1.cassandraCpuSecPerMillion} + Kafka ${sink1.kafkaCpuSecPerMillion} (again: ${sink2.clientCpuSecPerMillion} + ${sink2.cassandraCpuSecPerMillion} + ${sink2.kafkaCpuSecPerMillion}) · pipeline: consume ${pipe1.cpuSecPerMillion} + Cassandra ${pipe1.cassandraCpuSecPerMillion} + Kafka ${pipe1.kafkaCpuSecPerMillion} (again: ${pipe2.cpuSecPerMillion} + ${pipe2.cassandraCpuSecPerMillion} + ${pipe2.kafkaCpuSecPerMillion}) | |
| reading + decoding alone (src/consume/source.ts, then src/codec/decode.ts, as the pipeline; no writes) | ${floor.eventsPerSec} events/s; client ${floor.clientCpuSecPerMillion} + Kafka ${floor.kafkaCpuSecPerMillion} CPU s per million, less ${floor.generateCpuSecPerMillion} the sink phase spends generating = ${extra.toFixed(1)} s the pipeline needs on top of the sink's ${sinkCpuMean.toFixed(1)}: on shared cores the ratio cannot exceed **${(bound * 100).toFixed(1)}%** | |
| separate cores: Cassandra on CPU 0, the rest on the other(s) | ${"skipped" in separate ? `skipped: ${separate.skipped}` : `sink ${separate.sink.eventsPerSec}, pipeline ${separate.pipeline.eventsPerSec} events/s = **${(separate.ratioToSink * 100).toFixed(1)}%**, peak RSS ${separate.pipeline.peakRssMB} MB`} | |
| pipeline without that environment ("events consume" run by hand) | ${bare.eventsPerSec} events/s = ${(result.pipelineWithoutHeapHint.ratioToSink * 100).toFixed(1)}% of sink, peak RSS ${bare.peakRssMB} MB, consume ${bare.cpuSecPerMillion} CPU s per million | |
| end-to-end latency at ${rate} events/s, ${LATENCY_SECONDS}s after ${WARMUP}s of warm-up${COMPACTION_WAIT === 0 ? "" : firstCompaction.finished ? ` and the table's first compaction (done ${firstCompaction.afterSec}s in)` : ` (no compaction had finished within ${firstCompaction.afterSec}s)`} | p50 ${window.p50} ms, p99 ${window.p99} ms, ${window.over250msPct} % of events over 250 ms (whole run incl. warm-up: p99 ${ls.p99} ms, max ${ls.max} ms) | p99 ≤ 250 ms ${ok(result.targets["p99 <= 250 ms"])} |
| the same window by second: while Cassandra compacted the table / not | ${secondsLine(byCompaction.compacting)} / ${secondsLine(byCompaction.notCompacting)} | |
| the same window by second: with the machine saturated (under ${byIdleCpu.saturatedBelowCores} of a core idle) / not | ${secondsLine(byIdleCpu.saturated)} / ${secondsLine(byIdleCpu.notSaturated)}; ${byIdleCpu.meanIdleCores} cores idle on average | |
| Cassandra's GC in the same window (.stack/logs/gc.log) | ${gcLine(cassandraGc)} | |

${result.machine.cores} cores (${result.machine.cpu}), Kafka ${kafkaVersion}, Cassandra ${cassandraVersion}, Bun ${Bun.version}; ${N} events, ${USERS} users, 3 partitions, Avro; the throughput phases' tables do not compact, the latency phase's does.
JSON: ${file}`);

  if (!opt.keep) {
    say("dropping the benchmark's keyspaces and topics (--keep keeps them)");
    for (const k of Object.values(ks)) await drop(k);
    await admin.deleteTopics({ topics: [topic, latencyTopic] }).catch(() => {});
  }
  await admin.disconnect();
  await control.shutdown();
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`bench: ${e.message}`);
    process.exit(1);
  },
);
