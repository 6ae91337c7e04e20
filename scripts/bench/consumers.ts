/**
 * `bun run bench --consumers 1,2,3 [--events 300000]`: scale-out on the local cluster (`bun run stack up --cluster`).
 * For each count, that many `dist/events consume` processes in one fresh group drain the same preloaded backlog
 * (6 partitions, replication 3) into a fresh keyspace at SimpleStrategy:3 whose table does not compact. Reported:
 * events/s over the group's busy window, the share of the events each consumer wrote, consumers' CPU s per
 * million events (whole processes) and the three Cassandra nodes' and Kafka nodes' over the window, after one
 * unmeasured drain (the JVMs' warm-up). Counts may repeat (1,2,3,3,2,1) to tell drift from effect. On two shared
 * cores the total cannot grow with the count; what should stay flat is the CPU per event.
 */
import { readFileSync } from "node:fs";
import { Kafka, logLevel } from "kafkajs";
import { CLUSTER } from "../stack.ts";
import { cql, drop, events, machine, stackPid, summaryOf, writeReport, CLOCK_TICKS } from "./measure.ts";
import { DEPLOYED_ENV, N, ORIGIN, run, say, SEED, USERS } from "./settings.ts";

const NODES = ["cassandra-1", "cassandra-2", "cassandra-3", "kafka-1", "kafka-2", "kafka-3"];

function cpuOf(name: string): number {
  const f = readFileSync(`/proc/${stackPid(name)}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

function sampleNodes() {
  const samples: { t: number; cpu: Record<string, number> }[] = [];
  const take = () => samples.push({ t: Date.now(), cpu: Object.fromEntries(NODES.map((n) => [n, cpuOf(n)])) });
  take();
  const timer = setInterval(take, 100);
  return { stop: () => clearInterval(timer), at: (t: number) => samples.findLast((x) => x.t <= t) ?? samples[0]! };
}

export async function consumersBench(counts: number[]): Promise<void> {
  const env = { KAFKA_BROKERS: CLUSTER.brokers.join(","), CASSANDRA_CONTACT_POINTS: CLUSTER.contactPoints.join(",") };
  const admin = new Kafka({ brokers: CLUSTER.brokers, logLevel: logLevel.ERROR }).admin();
  await admin.connect();
  const { brokers } = await admin.describeCluster().catch(() => ({ brokers: [] as unknown[] }));
  if (brokers.length !== 3) throw new Error("the local cluster is not up: `bun run stack down && bun run stack up --cluster` first");
  const topic = `bench-scale-${run}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 3 }], waitForLeaders: true });
  say(`preloading ${N} events into ${topic} (6 partitions, replication 3)`);
  await events(["simulate", "--topic", topic, "--count", String(N), "--rate", "0", "--format", "avro", "--seed", String(SEED),
    "--users", String(USERS), "--start", new Date(ORIGIN).toISOString()], env);

  // A cluster just started compiles its hot paths under the first load: one drain first, not measured.
  {
    const keyspace = `bench_scale_${run}_warmup`;
    await events(["migrate", "--keyspace", keyspace, "--replication", "SimpleStrategy:3", "--log-level", "warn"], env);
    say("warm-up drain (not measured)");
    await events(["consume", "--exit-when-idle", "5s"], { ...env, KAFKA_TOPIC: topic, KAFKA_GROUP_ID: `${keyspace}-g`, CASSANDRA_KEYSPACE: keyspace, ...DEPLOYED_ENV });
    await drop(keyspace);
  }
  const rows = [];
  for (const [i, k] of counts.entries()) {
    const keyspace = `bench_scale_${run}_${i}_${k}`; // a fresh group and keyspace each time, also for a repeated count
    await events(["migrate", "--keyspace", keyspace, "--replication", "SimpleStrategy:3", "--log-level", "warn"], env);
    await cql(`ALTER TABLE ${keyspace}.user_events WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}`);
    const sampler = sampleNodes();
    const group = `${keyspace}-g`;
    // Started 2 s apart: members that join a fresh group at one instant were once seen not to (see the README).
    const procs = [];
    for (let i = 0; i < k; i++) {
      procs.push(events(["consume", "--exit-when-idle", "5s"], { ...env, KAFKA_TOPIC: topic, KAFKA_GROUP_ID: group, CASSANDRA_KEYSPACE: keyspace, ...DEPLOYED_ENV }));
      if (i < k - 1) await Bun.sleep(2000);
    }
    const results = await Promise.all(procs);
    sampler.stop();
    const summaries = results.map(summaryOf);
    const written = summaries.map((s) => s.written as number);
    const total = written.reduce((a, b) => a + b, 0);
    if (total < N) throw new Error(`${k} consumers wrote ${total} of ${N}`);
    const from = Math.min(...summaries.filter((s) => s.busyFrom).map((s) => Date.parse(s.busyFrom)));
    const to = Math.max(...summaries.filter((s) => s.busyTo).map((s) => Date.parse(s.busyTo)));
    const a = sampler.at(from).cpu;
    const b = sampler.at(to + 100).cpu;
    const perM = (sec: number) => Number(((sec / N) * 1e6).toFixed(1));
    const cassandra = perM(NODES.filter((n) => n.startsWith("cassandra")).reduce((s, n) => s + b[n]! - a[n]!, 0));
    const kafka = perM(NODES.filter((n) => n.startsWith("kafka")).reduce((s, n) => s + b[n]! - a[n]!, 0));
    const row = {
      consumers: k, eventsPerSec: Math.round(N / ((to - from) / 1000)),
      shares: written.map((w) => `${((w / total) * 100).toFixed(1)} %`), writes: total, replayed: total - N,
      consumerCpuPerMillion: perM(results.reduce((s, r) => s + r.cpuSec, 0)), cassandraCpuPerMillion: cassandra, kafkaCpuPerMillion: kafka,
      peakRssMB: Math.max(...results.map((r) => r.maxRssMB)),
    };
    say(`${k} consumer(s): ${row.eventsPerSec} events/s; shares ${row.shares.join(", ")}; CPU s per million: consumers ${row.consumerCpuPerMillion}, Cassandra ${cassandra}, Kafka ${kafka}`);
    rows.push(row);
    await drop(keyspace);
  }
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
  const result = { date: new Date().toISOString(), what: "scale-out on the local cluster", events: N, machine: machine(), bun: Bun.version, rows };
  const file = writeReport(`consumers-${result.date}`, result);
  console.log(["| consumers | events/s | share of the events each wrote | consumers CPU s / M | Cassandra (3 nodes) | Kafka (3 nodes) |", "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.consumers} | ${r.eventsPerSec} | ${r.shares.join(", ")} | ${r.consumerCpuPerMillion} | ${r.cassandraCpuPerMillion} | ${r.kafkaCpuPerMillion} |`)].join("\n"));
  console.log(`JSON: ${file}`);
}
