/** Measuring instruments: child processes' CPU and memory, the stack's CPU, Cassandra's state, latency histograms. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import cassandra from "cassandra-driver";
import { stackPaths } from "../stack.ts";
import { BIN, N, opt, ROOT, say } from "./settings.ts";

export interface ProcResult {
  code: number;
  lines: Record<string, unknown>[];
  maxRssMB: number;
  cpuSec: number;
  wallSec: number;
}

/** The pid of the local stack's `kafka` or `cassandra`, as the stack script recorded it. */
export const stackPid = (name: string) => readFileSync(stackPaths.pid(name), "utf8").trim();

/** Linux's clock ticks per second in /proc (USER_HZ): 100 on every architecture Bun runs on. */
export const CLOCK_TICKS = 100;

/** CPU seconds used so far by the local Kafka and Cassandra (on the cluster: its three nodes of each, summed). */
export function stackCpu(): { kafka: number; cassandra: number } {
  const cpu = (name: string) => {
    try {
      const pid = stackPid(name);
      const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS; // utime + stime
    } catch {
      return Number.NaN;
    }
  };
  const of = (name: string) => {
    const one = cpu(name);
    return Number.isNaN(one) ? cpu(`${name}-1`) + cpu(`${name}-2`) + cpu(`${name}-3`) : one;
  };
  return { kafka: of("kafka"), cassandra: of("cassandra") };
}

/**
 * The stack's CPU time sampled every 100 ms while a child process runs, so that a phase is charged only
 * for its busy window (its first record to its last write), not for its start-up and idle tail.
 */
export function stackCpuSampler() {
  const samples: { t: number; kafka: number; cassandra: number }[] = [{ t: Date.now(), ...stackCpu() }];
  const timer = setInterval(() => samples.push({ t: Date.now(), ...stackCpu() }), 100);
  return {
    stop: () => clearInterval(timer),
    /** The last reading at or before t (readings are 100 ms apart; /proc counts in 10 ms ticks). */
    at: (t: number) => samples.findLast((x) => x.t <= t) ?? samples[0]!,
  };
}

/** CPU seconds per million events of Kafka and Cassandra between two readings. */
export function perMillion(a: { kafka: number; cassandra: number }, b: { kafka: number; cassandra: number }, n = N) {
  return { kafka: Number((((b.kafka - a.kafka) / n) * 1e6).toFixed(1)), cassandra: Number((((b.cassandra - a.cassandra) / n) * 1e6).toFixed(1)) };
}

/** Peak RSS (VmHWM) of a live process, in MB; null once it is gone. */
export function peakRssMB(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** Run `events …` to completion; its JSON log lines, exit code, peak RSS and CPU time. */
export async function events(args: string[], env: Record<string, string> = {}, onStart?: () => Promise<void>, stopWhen?: Promise<unknown>, bin = BIN): Promise<ProcResult> {
  const t0 = performance.now();
  const proc = Bun.spawn([bin, ...args], {
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

export async function until(ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await Bun.sleep(200);
  }
}

/** The bench's own queries (compaction state, drops, the version) share one client, connected on first use. */
export const control = new cassandra.Client({ contactPoints: ["127.0.0.1:9042"], localDataCenter: "datacenter1" });
export function cql(query: string): Promise<cassandra.types.ResultSet> {
  return control.execute(query);
}

/** Every write phase starts from a quiet Cassandra: no compaction left over from the one before (2 minutes at most). */
export async function quiet(): Promise<void> {
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
export async function drop(keyspace: string): Promise<void> {
  if (!opt.keep) await cql(`DROP KEYSPACE IF EXISTS ${keyspace}`);
}

/** Cumulative counts of the end-to-end latency histogram, by upper bound in seconds. */
export async function latencyBuckets(status: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${status}/metrics`)).text();
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^events_end_to_end_latency_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) {
    out.set(m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
  }
  return out;
}

/** Whether Cassandra is compacting a table of the keyspace now. */
export async function compacting(keyspace: string): Promise<boolean> {
  const tasks = await cql("SELECT keyspace_name, kind FROM system_views.sstable_tasks");
  return tasks.rows.some((t) => t.keyspace_name === keyspace && String(t.kind).toLowerCase() === "compaction");
}

/**
 * A second of the latency window counts as saturated when the machine had less than this much CPU idle in
 * it (in cores): then whatever Cassandra, the consumer, Kafka and the simulator ask for waits its turn.
 */
export const SATURATED_IDLE_CORES = 0.15;

/** The machine's idle CPU time so far (idle and iowait, all cores), in seconds, and when it was read. */
export function idleTicks(): { sec: number; at: number } {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { sec: ((cpu[3] ?? 0) + (cpu[4] ?? 0)) / CLOCK_TICKS, at: performance.now() };
}
export const idleCores = (a: { sec: number; at: number }, b: { sec: number; at: number }) =>
  Number(((b.sec - a.sec) / Math.max(0.001, (b.at - a.at) / 1000)).toFixed(2));

/** Bucket counts a − b, and a + b. */
export const minus = (a: Map<number, number>, b: Map<number, number>) => new Map([...a].map(([k, v]) => [k, v - (b.get(k) ?? 0)]));
export const plus = (a: Map<number, number>, b: Map<number, number>) => new Map([...b].map(([k, v]) => [k, v + (a.get(k) ?? 0)]));

/**
 * p50 and p99 of the events between two scrapes, interpolated within a bucket (histogram_quantile), and
 * never above maxMs, the largest latency recorded: in a wide bucket (2.5–5 s) interpolation can go past it.
 */
export function quantiles(before: Map<number, number>, after: Map<number, number>, maxMs = Infinity): { p50: number; p99: number; count: number; over250msPct: number } {
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

export const summaryOf = (r: ProcResult) => r.lines.find((l) => l.msg === "summary") as Record<string, any>;

export async function versions() {
  const cassandraVersion = (await cql("SELECT release_version FROM system.local")).first().release_version as string;
  const kafkaVersion = /<kafka.version>([^<]+)/.exec(readFileSync(join(ROOT, "stack/kafka/pom.xml"), "utf8"))?.[1];
  return { cassandraVersion, kafkaVersion };
}

/**
 * A report as JSON, named for its date (`:` is not welcome in file names); its path. Under the git-ignored
 * .out/bench/ by default; with --save under bench/results/, to be committed: the documents quote only those.
 */
export function writeReport(name: string, result: object): string {
  const out = join(ROOT, opt.save ? "bench/results" : ".out/bench");
  mkdirSync(out, { recursive: true });
  const file = join(out, `${name.replaceAll(":", "-")}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  return file;
}

export const machine = () => ({ cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30) });
