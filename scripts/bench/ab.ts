#!/usr/bin/env bun
/**
 * `bun scripts/bench/ab.ts --arms name=path,name=path [--mode drain|simulate] [--pairs 3] [--events 500000] [--save]`:
 * an A/B of two (or more) builds of the binary in one run, arms alternating within each pair so that the shared
 * machine's drift is not read as an effect.
 *
 *   drain     each arm drains the same preloaded Avro backlog (`consume --exit-when-idle`, as deployed) into a
 *             fresh keyspace whose table does not compact: consumer CPU s per million events, events/s, peak RSS
 *   simulate  each arm produces the events (`simulate --rate 0`) into a fresh topic: simulator CPU s per million
 *   idle      each arm runs `consume`, caught up on an empty topic, for --idle-seconds (default 20): CPU s per
 *             minute of an idle consumer (what it costs between bursts)
 *
 * JSON under .out/bench/ (with --save: bench/results/, to be committed), a line per pair on stdout.
 */
import { parseArgs } from "node:util";
import { Kafka, logLevel } from "kafkajs";
import { cql, control, drop, events, machine, quiet, summaryOf, writeReport } from "./measure.ts";
import { DEPLOYED_ENV, ORIGIN, run, say, SEED } from "./settings.ts";

const { values: o } = parseArgs({
  args: process.argv.slice(2),
  options: {
    arms: { type: "string" }, mode: { type: "string", default: "drain" }, pairs: { type: "string", default: "3" },
    events: { type: "string", default: "500000" }, what: { type: "string", default: "" }, save: { type: "boolean", default: false },
    // settings.ts parses these too; declared here so that parseArgs accepts them.
    users: { type: "string", default: "10000" }, "idle-seconds": { type: "string", default: "20" },
  },
  strict: false,
});
const arms = String(o.arms ?? "").split(",").filter(Boolean).map((a) => {
  const [name, path] = a.split("=");
  if (!name || !path) throw new Error(`--arms takes name=path,name=path; got "${o.arms}"`);
  return { name, path };
});
const n = Number(o.events);
const pairs = Number(o.pairs);
if (arms.length < 2 || !(n > 0) || !(pairs >= 1) || !["drain", "simulate", "idle"].includes(String(o.mode))) {
  console.error("ab: --arms a=dist/x,b=dist/y (two or more), --mode drain|simulate|idle, --pairs N, --events N");
  process.exit(2);
}
const users = Number(o.users);

const admin = new Kafka({ brokers: ["127.0.0.1:9092"], logLevel: logLevel.ERROR }).admin();
await admin.connect();
const topic = (id: string) => `bench-ab-${run}-${id}`;
const createTopic = (t: string) => admin.createTopics({ topics: [{ topic: t, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
const simulateArgs = (t: string) => ["simulate", "--topic", t, "--count", String(n), "--rate", "0", "--format", "avro",
  "--seed", String(SEED), "--users", String(users), "--start", new Date(ORIGIN).toISOString()];
const perMillion = (sec: number) => Number(((sec / n) * 1e6).toFixed(2));

const backlog = topic("backlog");
const idleSeconds = Number(o["idle-seconds"]);
if (o.mode === "idle") await createTopic(backlog);
if (o.mode === "drain") {
  await createTopic(backlog);
  say(`preloading ${n} events into ${backlog}`);
  await events(simulateArgs(backlog));
}

let measuredSec = 0;
const results: { pair: number; arm: string; cpu: number; eventsPerSec: number; peakRssMB: number }[] = [];
for (let pair = 1; pair <= pairs; pair++) {
  // Alternate which arm goes first: A B, B A, A B, …
  for (const arm of pair % 2 ? arms : [...arms].reverse()) {
    const id = `${pair}_${arm.name}`.replace(/[^a-z0-9_]/gi, "_");
    if (o.mode === "drain") {
      const keyspace = `bench_ab_${run}_${id}`.toLowerCase();
      await events(["migrate", "--keyspace", keyspace, "--log-level", "warn"]);
      await cql(`ALTER TABLE ${keyspace}.user_events WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}`);
      await quiet();
      const r = await events(["consume", "--exit-when-idle", "3s"], { KAFKA_TOPIC: backlog, KAFKA_GROUP_ID: `${keyspace}-g`, CASSANDRA_KEYSPACE: keyspace, ...DEPLOYED_ENV }, undefined, undefined, arm.path);
      const s = summaryOf(r);
      if (s.written !== n) throw new Error(`${arm.name} wrote ${s.written} of ${n}`);
      await drop(keyspace);
      results.push({ pair, arm: arm.name, cpu: perMillion(r.cpuSec), eventsPerSec: s.eventsPerSec, peakRssMB: r.maxRssMB });
    } else if (o.mode === "idle") {
      let stop!: () => void;
      const stopped = new Promise<void>((r) => (stop = r));
      const r = await events(["consume"], { KAFKA_TOPIC: backlog, KAFKA_GROUP_ID: `${backlog}-${id}`, CASSANDRA_KEYSPACE: "event_streaming", ...DEPLOYED_ENV },
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
      const r = await events(simulateArgs(t), {}, undefined, undefined, arm.path);
      await admin.deleteTopics({ topics: [t] }).catch(() => {});
      results.push({ pair, arm: arm.name, cpu: perMillion(r.cpuSec), eventsPerSec: summaryOf(r).eventsPerSec, peakRssMB: r.maxRssMB });
    }
    const x = results.at(-1)!;
    say(`pair ${pair}, ${arm.name}: ${x.cpu} ${o.mode === "idle" ? "CPU s per minute" : "CPU s per million"}, ${x.eventsPerSec} events/s, peak RSS ${x.peakRssMB} MB`);
  }
}
if (o.mode !== "simulate") await admin.deleteTopics({ topics: [backlog] }).catch(() => {});
await admin.disconnect();
await control.shutdown();

const byArm = Object.fromEntries(arms.map((a) => {
  const xs = results.filter((r) => r.arm === a.name).map((r) => r.cpu);
  return [a.name, { path: a.path, cpu: xs, mean: Number((xs.reduce((s, x) => s + x, 0) / xs.length).toFixed(2)) }];
}));
const unit = o.mode === "idle" ? "CPU s per minute idle" : "CPU s per million events";
const result = { date: new Date().toISOString(), what: o.what, mode: o.mode, unit, events: n, pairs, machine: machine(), bun: Bun.version, byArm, runs: results };
const file = writeReport(`ab-${o.mode}-${result.date}`, result);
console.log(`${o.what ? `${o.what}: ` : ""}${Object.entries(byArm).map(([k, v]) => `${k} ${v.cpu.join(" / ")} (mean ${v.mean})`).join(" against ")} ${unit}\nJSON: ${file}`);
