#!/usr/bin/env bun
/**
 * `bun scripts/bench/ab.ts --arms name=path,name=path [--mode drain|simulate] [--pairs 3] [--events 500000] [--save]`:
 * an A/B of two (or more) builds of the binary, or of one build with different settings, in one run, arms
 * alternating within each pair so that the shared machine's drift is not read as an effect. An arm is
 * `name=path`, or `name=path?ENV=value&ENV=value` for settings of its own (e.g. `insert=dist/events?SINK_WRITE=insert`);
 * in drain mode `table=<options>` among them is applied to the arm's table instead (`ALTER TABLE … WITH <options>`,
 * e.g. `trie=dist/events?table=memtable%3D'trie'`), and `cql=<statements>` (`;`-separated, `{keyspace}` for the
 * arm's keyspace) run after `events migrate`, e.g. to recreate the table with another column type.
 * `--warmup` (drain and steady) drains first, unmeasured, until Cassandra's CPU per event settles (two drains in a
 * row within 10 %, at most six): a JVM just started compiles its hot paths under the first minutes of load.
 * Server arms (single node, drain or steady mode): `server=<key=value;…>` (cassandra.yaml settings) and `jvm=<options>` (JVM
 * options; `!option` removes one) restart the local Cassandra before each of that arm's drains with them
 * (`STACK_CASSANDRA_CONF`, `STACK_CASSANDRA_JVM` of scripts/stack.ts), then warm it up as `--warmup` does;
 * once any arm names one, every arm is restarted, so that all are measured equally warm.
 *
 *   drain     each arm drains the same preloaded Avro backlog (`consume --exit-when-idle`, as deployed) into a
 *             fresh keyspace whose table does not compact: consumer CPU s per million events, events/s, peak RSS,
 *             and Cassandra's and Kafka's CPU s per million over the consumer's busy window
 *   steady    each arm consumes while `simulate --rate <--rate, default 24000>` produces for --seconds (default 45) into
 *             a fresh topic and keyspace (its table compacting as in real use): Cassandra's and Kafka's CPU s per
 *             million events over the window from 5 s in to the simulator's end, and the whole run's p99 latency
 *   simulate  each arm produces the events (`simulate --rate 0`) into a fresh topic: simulator CPU s per million
 *   idle      each arm runs `consume`, caught up on an empty topic, for --idle-seconds (default 20): CPU s per
 *             minute of an idle consumer (what it costs between bursts)
 *
 * `--cluster`: on the local cluster (`bun run stack up --cluster`): topics of 6 partitions at replication 3, keyspaces
 * at SimpleStrategy:3, every process given the three brokers and nodes; CPU summed over the three nodes of each.
 *
 * JSON under .out/bench/ (with --save: bench/results/, to be committed), a line per pair on stdout.
 */
import { parseArgs } from "node:util";
import { Kafka, logLevel } from "kafkajs";
import { cql, control, drop, events, machine, perMillion as stackPerMillion, quiet, stackCpuSampler, summaryOf, writeReport } from "./measure.ts";
import { DEPLOYED_ENV, ORIGIN, run, say, SEED } from "./settings.ts";
import { until } from "./measure.ts";
import { CLUSTER } from "../stack.ts";

const { values: o } = parseArgs({
  args: process.argv.slice(2),
  options: {
    arms: { type: "string" }, mode: { type: "string", default: "drain" }, pairs: { type: "string", default: "3" },
    events: { type: "string", default: "500000" }, what: { type: "string", default: "" }, save: { type: "boolean", default: false },
    warmup: { type: "boolean", default: false }, cluster: { type: "boolean", default: false }, rate: { type: "string", default: "24000" }, seconds: { type: "string", default: "45" },
    // settings.ts parses these too; declared here so that parseArgs accepts them.
    users: { type: "string", default: "10000" }, "idle-seconds": { type: "string", default: "20" },
  },
  strict: false,
});
const arms = String(o.arms ?? "").split(",").filter(Boolean).map((a) => {
  const i = a.indexOf("=");
  const [name, rest] = [a.slice(0, i), a.slice(i + 1)];
  const [path, query] = rest.split("?");
  if (i < 1 || !path) throw new Error(`--arms takes name=path[?ENV=value&…],…; got "${o.arms}"`);
  const { table, cql: statements, server, jvm, ...env } = Object.fromEntries(new URLSearchParams(query ?? ""));
  return { name, path, env, table, statements, server, jvm };
});
const n = Number(o.events);
const pairs = Number(o.pairs);
if (arms.length < 2 || !(n > 0) || !(pairs >= 1) || !["drain", "simulate", "idle", "steady"].includes(String(o.mode))) {
  console.error("ab: --arms a=dist/x,b=dist/y (two or more), --mode drain|simulate|idle|steady, --pairs N, --events N");
  process.exit(2);
}
const users = Number(o.users);

const clusterEnv: Record<string, string> = o.cluster ? { KAFKA_BROKERS: CLUSTER.brokers.join(","), CASSANDRA_CONTACT_POINTS: CLUSTER.contactPoints.join(",") } : {};
const admin = new Kafka({ brokers: o.cluster ? CLUSTER.brokers : ["127.0.0.1:9092"], logLevel: logLevel.ERROR }).admin();
await admin.connect();
const topic = (id: string) => `bench-ab-${run}-${id}`;
const createTopic = (t: string) => admin.createTopics({ topics: [{ topic: t, numPartitions: o.cluster ? 6 : 3, replicationFactor: o.cluster ? 3 : 1 }], waitForLeaders: true });
/** `events` with the cluster's addresses when --cluster. */
const ev = (args: string[], env: Record<string, string> = {}, onStart?: () => Promise<void>, stopWhen?: Promise<unknown>, bin?: string) =>
  events(args, { ...clusterEnv, ...env }, onStart, stopWhen, bin);
const migrateArgs = (keyspace: string) => ["migrate", "--keyspace", keyspace, "--log-level", "warn", ...(o.cluster ? ["--replication", "SimpleStrategy:3"] : [])];
const simulateArgs = (t: string) => ["simulate", "--topic", t, "--count", String(n), "--rate", "0", "--format", "avro",
  "--seed", String(SEED), "--users", String(users), "--start", new Date(ORIGIN).toISOString()];
const perMillion = (sec: number) => Number(((sec / n) * 1e6).toFixed(2));

const backlog = topic("backlog");
const idleSeconds = Number(o["idle-seconds"]);
const serverArms = arms.some((a) => a.server !== undefined || a.jvm !== undefined);
if (serverArms && (!["drain", "steady"].includes(String(o.mode)) || o.cluster)) throw new Error("ab: server= and jvm= arms are for --mode drain or steady on the single node");
// A steady run's warm-up (--warmup, or after a server arm's restart) is the same drains, so it needs the backlog too.
const warmupDrains = (Boolean(o.warmup) || serverArms) && (o.mode === "drain" || o.mode === "steady");
if (o.mode === "idle") await createTopic(backlog);
if (o.mode === "drain" || warmupDrains) {
  await createTopic(backlog);
  say(`preloading ${n} events into ${backlog}`);
  await ev(simulateArgs(backlog));
}

let warmups = 0;
/** Cassandra's CPU s per million of every warm-up drain, in order (in the JSON: how settled the node was). */
const warmupCassandra: number[] = [];
/** One unmeasured drain into a throwaway keyspace; returns Cassandra's CPU s per million over its busy window. */
async function warmUpDrain(): Promise<number> {
  const keyspace = `bench_ab_${run}_warmup${++warmups}`;
  await ev(migrateArgs(keyspace));
  const sampler = stackCpuSampler();
  const r = await ev(["consume", "--exit-when-idle", "3s"], { KAFKA_TOPIC: backlog, KAFKA_GROUP_ID: `${keyspace}-g`, CASSANDRA_KEYSPACE: keyspace, ...DEPLOYED_ENV });
  sampler.stop();
  const s = summaryOf(r);
  await drop(keyspace);
  return stackPerMillion(sampler.at(Date.parse(s.busyFrom)), sampler.at(Date.parse(s.busyTo) + 100), n).cassandra;
}
/**
 * Warm-up drains until Cassandra's CPU per event settles: two in a row within 10 %, at most six (the full bench's
 * rule). One fixed drain was not enough: a node just started still cost ~30 % more in the first measured pair.
 */
async function warmUp(): Promise<void> {
  let last: number | undefined;
  for (let round = 1; round <= 6; round++) {
    const c = await warmUpDrain();
    warmupCassandra.push(c);
    say(`warm-up drain ${round} (not measured): Cassandra ${c} CPU s per million`);
    if (last !== undefined && Math.abs(c - last) <= 0.1 * last) return;
    last = c;
  }
  say("warm-up: Cassandra's CPU per event did not settle in six drains; measuring anyway");
}
if (warmupDrains && !serverArms) await warmUp(); // server arms warm up after each restart

/** The local Cassandra restarted with the arm's server settings, answering, and warmed up. */
async function restartCassandra(arm: (typeof arms)[number]): Promise<void> {
  const stack = async (cmd: string) => {
    const p = Bun.spawn(["bun", "scripts/stack.ts", cmd, "cassandra"], {
      env: { ...process.env, STACK_CASSANDRA_CONF: arm.server ?? "", STACK_CASSANDRA_JVM: arm.jvm ?? "" }, stdout: "ignore", stderr: "inherit" });
    if ((await p.exited) !== 0) throw new Error(`ab: stack ${cmd} cassandra failed`);
  };
  say(`restarting Cassandra for ${arm.name}${arm.server ? ` (${arm.server})` : ""}${arm.jvm ? ` (${arm.jvm})` : ""}`);
  await stack("down");
  await stack("up");
  await until(async () => (await cql("SELECT release_version FROM system.local").then(() => true, () => false)), 60_000);
  await warmUp();
}

let measuredSec = 0;
const results: { pair: number; arm: string; cpu: number; eventsPerSec: number; peakRssMB: number; cassandra?: number; kafka?: number; p99Ms?: number }[] = [];
for (let pair = 1; pair <= pairs; pair++) {
  // Alternate which arm goes first: A B, B A, A B, …
  for (const arm of pair % 2 ? arms : [...arms].reverse()) {
    if (serverArms) await restartCassandra(arm);
    const id = `${pair}_${arm.name}`.replace(/[^a-z0-9_]/gi, "_");
    if (o.mode === "drain") {
      const keyspace = `bench_ab_${run}_${id}`.toLowerCase();
      await ev(migrateArgs(keyspace));
      for (const q of (arm.statements ?? "").split(";").map((x) => x.trim()).filter(Boolean)) await cql(q.replaceAll("{keyspace}", keyspace));
      await cql(`ALTER TABLE ${keyspace}.user_events WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}`);
      if (arm.table) await cql(`ALTER TABLE ${keyspace}.user_events WITH ${arm.table}`);
      await quiet();
      const sampler = stackCpuSampler();
      const r = await ev(["consume", "--exit-when-idle", "3s"], { KAFKA_TOPIC: backlog, KAFKA_GROUP_ID: `${keyspace}-g`, CASSANDRA_KEYSPACE: keyspace, ...DEPLOYED_ENV, ...arm.env }, undefined, undefined, arm.path);
      sampler.stop();
      const s = summaryOf(r);
      if (s.written !== n) throw new Error(`${arm.name} wrote ${s.written} of ${n}`);
      const stack = stackPerMillion(sampler.at(Date.parse(s.busyFrom)), sampler.at(Date.parse(s.busyTo) + 100), n);
      await drop(keyspace);
      results.push({ pair, arm: arm.name, cpu: perMillion(r.cpuSec), eventsPerSec: s.eventsPerSec, peakRssMB: r.maxRssMB, ...stack });
    } else if (o.mode === "steady") {
      const t = topic(id);
      await createTopic(t);
      const keyspace = `bench_ab_${run}_${id}`.toLowerCase();
      await ev(migrateArgs(keyspace));
      if (arm.table) await cql(`ALTER TABLE ${keyspace}.user_events WITH ${arm.table}`);
      await quiet();
      const rate = Number(o.rate);
      const status = "127.0.0.1:19477";
      let window = { cassandra: Number.NaN, kafka: Number.NaN, events: 0 };
      const r = await ev(["consume", "--exit-when-idle", "3s", "--status-addr", status],
        { KAFKA_TOPIC: t, KAFKA_GROUP_ID: `${keyspace}-g`, CASSANDRA_KEYSPACE: keyspace, ...DEPLOYED_ENV, ...arm.env }, async () => {
          await until(async () => (await fetch(`http://${status}/readyz`).catch(() => null))?.status === 200, 60_000);
          const sampler = stackCpuSampler();
          const from = Date.now() + 5000;
          await ev(["simulate", "--topic", t, "--rate", String(rate), "--duration", `${o.seconds}s`, "--users", String(users)]);
          sampler.stop();
          const to = Date.now();
          const events_ = Math.round((rate * (to - from)) / 1000);
          window = { ...stackPerMillion(sampler.at(from), sampler.at(to), events_), events: events_ };
        }, undefined, arm.path);
      await drop(keyspace);
      await admin.deleteTopics({ topics: [t] }).catch(() => {});
      const s = summaryOf(r);
      results.push({ pair, arm: arm.name, cpu: Number(((r.cpuSec / s.written) * 1e6).toFixed(2)), eventsPerSec: rate, peakRssMB: r.maxRssMB,
        cassandra: window.cassandra, kafka: window.kafka, p99Ms: (s.latencyMs as { p99: number }).p99 });
    } else if (o.mode === "idle") {
      let stop!: () => void;
      const stopped = new Promise<void>((r) => (stop = r));
      const r = await ev(["consume"], { KAFKA_TOPIC: backlog, KAFKA_GROUP_ID: `${backlog}-${id}`, CASSANDRA_KEYSPACE: "event_streaming", ...DEPLOYED_ENV },
        async () => {
          await Bun.sleep(5000); // joined and settled
          const t0 = performance.now();
          await Bun.sleep(idleSeconds * 1000);
          measuredSec = (performance.now() - t0) / 1000;
          stop();
        }, stopped, arm.path);
      // The whole process's CPU, start-up included: the same start-up for every arm, so the difference is the idle loop's.
      results.push({ pair, arm: arm.name, cpu: Number((r.cpuSec / (5 + measuredSec) * 60).toFixed(3)), eventsPerSec: 0, peakRssMB: r.maxRssMB });
    } else {
      const t = topic(id);
      await createTopic(t);
      const r = await ev(simulateArgs(t), {}, undefined, undefined, arm.path);
      await admin.deleteTopics({ topics: [t] }).catch(() => {});
      results.push({ pair, arm: arm.name, cpu: perMillion(r.cpuSec), eventsPerSec: summaryOf(r).eventsPerSec, peakRssMB: r.maxRssMB });
    }
    const x = results.at(-1)!;
    say(`pair ${pair}, ${arm.name}: ${x.cpu} ${o.mode === "idle" ? "CPU s per minute" : "CPU s per million"}, ${x.eventsPerSec} events/s, peak RSS ${x.peakRssMB} MB` +
      (x.cassandra !== undefined ? `; Cassandra ${x.cassandra}, Kafka ${x.kafka} CPU s per million` : "") + (x.p99Ms !== undefined ? `; p99 ${x.p99Ms} ms` : ""));
  }
}
if (o.mode === "drain" || o.mode === "idle" || warmupDrains) await admin.deleteTopics({ topics: [backlog] }).catch(() => {});
await admin.disconnect();
await control.shutdown();

const mean = (xs: number[]) => Number((xs.reduce((s, x) => s + x, 0) / xs.length).toFixed(2));
const byArm = Object.fromEntries(arms.map((a) => {
  const mine = results.filter((r) => r.arm === a.name);
  const xs = mine.map((r) => r.cpu);
  const cassandra = mine.map((r) => r.cassandra).filter((x): x is number => x !== undefined);
  return [a.name, { path: a.path, env: a.env, table: a.table, cql: a.statements, server: a.server, jvm: a.jvm, cpu: xs, mean: mean(xs), ...(cassandra.length ? { cassandra, cassandraMean: mean(cassandra) } : {}) }];
}));
const unit = o.mode === "idle" ? "CPU s per minute idle" : "CPU s per million events";
const result = { date: new Date().toISOString(), what: o.what, mode: o.mode, unit, events: n, pairs, machine: machine(), bun: Bun.version, byArm, runs: results, warmupCassandra };
const file = writeReport(`ab-${o.mode}-${result.date}`, result);
console.log(`${o.what ? `${o.what}: ` : ""}${Object.entries(byArm).map(([k, v]) => `${k} ${v.cpu.join(" / ")} (mean ${v.mean})` +
  ("cassandraMean" in v ? `, Cassandra ${v.cassandra!.join(" / ")} (mean ${v.cassandraMean})` : "")).join(" against ")} ${unit}\nJSON: ${file}`);
