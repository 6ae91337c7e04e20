/**
 * Faults on the local cluster (`bun run stack up --cluster`: three Kafka nodes, a ring of three Cassandra nodes
 * on 127.0.0.1-3, topics at replication 3 with min.insync.replicas=2, the keyspace at SimpleStrategy:3), through
 * the compiled binary, writes at LOCAL_QUORUM. Every scenario reads every row back at ALL. Run by
 * `bun run test:cluster` (not by `bun test`: the file name does not end in .test.ts).
 * Bounded: each test has its timeout, and every process it starts is killed at its end.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { Kafka, logLevel } from "kafkajs";
import { CLUSTER } from "../../scripts/stack.ts";
import { asAvro, makeEvents, readTopic, type Running, start, summary, type TestEvent, until } from "../helpers/events.ts";
import { freshKeyspace, HOOK_TIMEOUT, ROOT, runEvents, stackCommand } from "../helpers/stack.ts";

const kafka = () => new Kafka({ clientId: "events-cluster-test", brokers: CLUSTER.brokers, logLevel: logLevel.ERROR });
const running: Running[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
let cql: cassandra.Client;

beforeAll(async () => {
  const admin = kafka().admin();
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    if (brokers.length !== 3) throw new Error(`${brokers.length} brokers`);
  } catch (e) {
    throw new Error(`the local cluster's Kafka does not answer with 3 brokers (${(e as Error).message}): start it with \`bun run stack up --cluster\``);
  } finally {
    await admin.disconnect().catch(() => {});
  }
  cql = new cassandra.Client({ contactPoints: CLUSTER.contactPoints, localDataCenter: "datacenter1",
    queryOptions: { consistency: cassandra.types.consistencies.all } });
  await cql.connect();
  const up = cql.hosts.values().filter((h) => h.isUp()).length;
  if (up !== 3) throw new Error(`the local ring has ${up} nodes up, not 3: start it with \`bun run stack up --cluster\``);
}, HOOK_TIMEOUT);
afterEach(async () => {
  for (const r of running.splice(0)) r.proc.kill("SIGKILL");
  // A scenario that failed half-way leaves no node down for the next one.
  await stackCommand(["up", "--cluster"]);
}, HOOK_TIMEOUT);
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
  await cql?.shutdown();
}, HOOK_TIMEOUT);

async function clusterPipeline(prefix: string, partitions = 6, replication = 3) {
  const topic = `${prefix}-${Date.now().toString(36)}`;
  const dlq = `${topic}.dlq`;
  const admin = kafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3 }, { topic: dlq, numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true });
  await admin.disconnect();
  const keyspace = freshKeyspace(prefix.replaceAll("-", "_"));
  const base = { KAFKA_BROKERS: CLUSTER.brokers.join(","), CASSANDRA_CONTACT_POINTS: CLUSTER.contactPoints.join(",") };
  const m = runEvents("binary", ["migrate", "--keyspace", keyspace, "--replication", `SimpleStrategy:${replication}`], base);
  if (m.status !== 0) throw new Error(`migrate: ${m.stderr}`);
  cleanups.push(() => cql.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`));
  cleanups.push(async () => {
    const a = kafka().admin();
    await a.connect();
    await a.deleteTopics({ topics: [topic, dlq] }).finally(() => a.disconnect());
  });
  const env = { ...base, KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: dlq, KAFKA_GROUP_ID: `${topic}-g`, CASSANDRA_KEYSPACE: keyspace,
    KAFKA_SESSION_TIMEOUT: "6s", LOG_LEVEL: "info" };
  return { topic, dlq, keyspace, env };
}

async function produceAll(topic: string, events: TestEvent[]): Promise<void> {
  const producer = kafka().producer();
  await producer.connect();
  const messages = asAvro(events);
  for (let i = 0; i < messages.length; i += 2000) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 2000) });
  await producer.disconnect();
}

function consumer(env: Record<string, string>): Running {
  const r = start("binary", ["consume"], env);
  running.push(r);
  return r;
}

const written = async (r: Running) => ((await r.status().catch(() => ({ written: -1 }))).written as number) ?? -1;
/**
 * Everything processed: written at least n (a rejoin reads again from the committed offsets, which windows hold
 * for their last minutes, so `written` also counts idempotent rewrites) and caught up with nothing in flight.
 */
const processed = async (c: Running, n: number) => {
  const s = await c.status().catch(() => null);
  lastStatus = s;
  return ((s?.written as number | undefined) ?? 0) >= n && s?.caughtUp === true && s.inFlight === 0;
};
let lastStatus: Record<string, unknown> | null = null;
/** processed(), or a failure that says where the consumer stood (its figures and its last log lines). */
async function untilProcessed(c: Running, n: number, timeoutMs: number): Promise<void> {
  try {
    await until("every event processed", () => processed(c, n), timeoutMs, 250);
  } catch (e) {
    const { history: _h, recent: _r, ...figures } = lastStatus ?? {};
    throw new Error(`${(e as Error).message}; the consumer's status: ${JSON.stringify(figures)}; its last log lines:\n${c.lines.slice(-15).map((l) => JSON.stringify(l)).join("\n")}`);
  }
}

/** Every event stored exactly once, every field right, read at ALL. */
async function expectAllOnce(keyspace: string, events: TestEvent[]) {
  const byId = new Map<string, cassandra.types.Row>();
  let total = 0;
  for await (const r of cql.stream(`SELECT * FROM ${keyspace}.user_events`, [], { prepare: true, fetchSize: 5000 }) as unknown as AsyncIterable<cassandra.types.Row>) {
    total++;
    byId.set(r.event_id.toString(), r);
  }
  const wrong = events.filter((e) => {
    const r = byId.get(e.event_id);
    return !r || r.user_id.toString() !== e.user_id || r.event_time.getTime() !== e.event_time || r.event_type !== e.event_type ||
      JSON.stringify(r.metadata ?? {}) !== JSON.stringify(e.metadata);
  }).length;
  expect({ lost: wrong, duplicateRows: total - byId.size, distinct: byId.size }).toEqual({ lost: 0, duplicateRows: 0, distinct: events.length });
}

function report(scenario: string, result: Record<string, unknown>): void {
  console.log(`cluster-result ${JSON.stringify({ scenario, ...result })}`);
}

const pidOf = (name: string) => {
  const pid = CLUSTER.pid(name);
  if (!pid) throw new Error(`no pid recorded for ${name} (under ${ROOT}/.stack/run)`);
  return pid;
};

test("a Cassandra node SIGKILLed mid-stream and restarted after 30 s: writes go on at quorum, 0 lost", async () => {
  const N = 60_000;
  const p = await clusterPipeline("cl-node");
  const events = makeEvents(N, { seed: 91, start: Date.now() - 600_000, stepMs: 10, jitterMs: 10_000 });
  await produceAll(p.topic, events);
  const c = consumer(p.env);
  await until("10,000 written", async () => (await written(c)) >= 10_000, 90_000, 50);
  process.kill(pidOf("cassandra-3"), "SIGKILL");
  const killedAt = Date.now();
  const atKill = await written(c);
  await Bun.sleep(30_000);
  const during = (await written(c)) - atKill;
  expect(during).toBeGreaterThan(0); // quorum is 2 of 3: writes went on
  expect(await stackCommand(["up", "--cluster", "cassandra-3"])).toBe(0);
  await untilProcessed(c, N, 120_000);
  const s = await c.status();
  expect(s.deadLettered).toBe(0);
  c.proc.kill("SIGTERM");
  expect(await c.exited).toBe(0);
  await expectAllOnce(p.keyspace, events);
  report("Cassandra node killed", { events: N, writtenWhileDown: during, downSeconds: Math.round((Date.now() - killedAt) / 1000), retries: s.retries, deadLettered: 0, lost: 0 });
}, 300_000);

test("the broker leading the most partitions SIGKILLed mid-stream and restarted: 0 lost, the pause measured", async () => {
  const N = 60_000;
  const p = await clusterPipeline("cl-broker");
  const events = makeEvents(N, { seed: 92, start: Date.now() - 600_000, stepMs: 10, jitterMs: 10_000 });
  await produceAll(p.topic, events);
  const admin = kafka().admin();
  await admin.connect();
  const { topics } = await admin.fetchTopicMetadata({ topics: [p.topic] });
  await admin.disconnect();
  const leads = new Map<number, number>();
  for (const part of topics[0]!.partitions) leads.set(part.leader, (leads.get(part.leader) ?? 0) + 1);
  const [leader, count] = [...leads.entries()].sort((a, b) => b[1] - a[1])[0]!;
  const c = consumer(p.env);
  await until("10,000 written", async () => (await written(c)) >= 10_000, 90_000, 50);
  // The longest time written did not move, sampled every 100 ms from the kill until all is written.
  let last = await written(c);
  let lastMoved = Date.now();
  let longestPause = 0;
  process.kill(pidOf(`kafka-${leader}`), "SIGKILL");
  const killedAt = Date.now();
  let restarted = false;
  while (Date.now() - killedAt < 150_000) {
    await Bun.sleep(100);
    const w = await written(c);
    if (w > last) {
      longestPause = Math.max(longestPause, Date.now() - lastMoved);
      last = w;
      lastMoved = Date.now();
    }
    if (!restarted && Date.now() - killedAt > 15_000) {
      restarted = true;
      void stackCommand(["up", "--cluster", `kafka-${leader}`]);
    }
    if (last >= N && (await processed(c, N))) break;
  }
  longestPause = Math.max(longestPause, Date.now() - lastMoved);
  expect(await processed(c, N)).toBe(true);
  c.proc.kill("SIGTERM");
  expect(await c.exited).toBe(0);
  expect(summary(c).deadLettered).toBe(0);
  await expectAllOnce(p.keyspace, events);
  report("leading broker killed", { events: N, broker: leader, ledPartitions: `${count} of 6`, longestPauseMs: longestPause, rewrites: last - N, lost: 0 });
}, 300_000);

test("three consumers in one group over 6 partitions, one SIGKILLed and one added mid-stream: 0 lost, rebalances counted", async () => {
  const N = 90_000;
  const p = await clusterPipeline("cl-group");
  const events = makeEvents(N, { seed: 93, start: Date.now() - 900_000, stepMs: 10, jitterMs: 10_000 });
  await produceAll(p.topic, events);
  const cs = [consumer(p.env)];
  await until("the first to join", async () => (await fetch(`${cs[0]!.statusUrl}/readyz`)).status === 200, 60_000, 250);
  // Joined one after another: members that join a new group at the same instant were once seen not to (README's note).
  for (let i = 0; i < 2; i++) {
    cs.push(consumer(p.env));
    await until("it to join", async () => (await fetch(`${cs.at(-1)!.statusUrl}/readyz`)).status === 200, 60_000, 250);
  }
  const total = async () => (await Promise.all(cs.map((c) => written(c).then((w) => Math.max(0, w))))).reduce((a, b) => a + b, 0);
  await until("20,000 written", async () => (await total()) >= 20_000, 90_000, 100);
  const rebalancesOf = async (c: Running) =>
    Number(/^events_rebalances_total (\d+)/m.exec(await (await fetch(`${c.statusUrl}/metrics`)).text())?.[1] ?? 0);
  const before = [await rebalancesOf(cs[0]!), await rebalancesOf(cs[2]!), 0];
  const killedWrote = await written(cs[1]!);
  cs[1]!.proc.kill("SIGKILL");
  cs.push(consumer(p.env));
  const alive = [cs[0]!, cs[2]!, cs[3]!];
  await until("every event stored", async () => (await countAtOne(p.keyspace)) >= N, 180_000, 1000);
  // The group rebalances once the killed member's session (6 s) is over and the added one asks to join; the
  // work may be done before that, so wait for it: every member that lives takes part in a new generation.
  const rebalances = await until("every live consumer to rebalance after the kill", async () => {
    const now = await Promise.all(alive.map(rebalancesOf));
    return now.every((r, i) => r > before[i]!) ? now : null;
  }, 90_000, 500);
  for (const c of alive) {
    c.proc.kill("SIGTERM");
    expect(await c.exited).toBe(0);
  }
  expect(alive.map((c) => summary(c).deadLettered)).toEqual([0, 0, 0]);
  await expectAllOnce(p.keyspace, events);
  const shares = alive.map((c) => summary(c).written);
  report("consumer killed, one added", { events: N, consumers: 3, killedAfter: killedWrote, shares, rebalancesBefore: before, rebalances, lost: 0 });
}, 300_000);

test("two Cassandra nodes down at once: the consumer waits (readyz 503, 0 dead-lettered), and stores everything once a node returns", async () => {
  const N = 30_000;
  const p = await clusterPipeline("cl-quorum");
  const c = consumer({ ...p.env, STALL_TIMEOUT: "10s" });
  await until("ready", async () => (await fetch(`${c.statusUrl}/readyz`)).status === 200, 60_000, 250);
  process.kill(pidOf("cassandra-2"), "SIGKILL");
  process.kill(pidOf("cassandra-3"), "SIGKILL");
  const downAt = Date.now();
  const events = makeEvents(N, { seed: 94, start: Date.now() - 300_000, stepMs: 10, jitterMs: 10_000 });
  await produceAll(p.topic, events);
  const notReady = await until("/readyz to say why", async () => {
    const r = await fetch(`${c.statusUrl}/readyz`);
    const body = (await r.json()) as { notReady: string[] };
    return r.status === 503 && body.notReady.some((x) => /stalled/.test(x)) ? body.notReady : null;
  }, 60_000, 500);
  const during = await c.status();
  expect(during.deadLettered).toBe(0);
  expect(during.written as number).toBeLessThan(N);
  expect(await stackCommand(["up", "--cluster", "cassandra-2"])).toBe(0);
  await untilProcessed(c, N, 180_000);
  const s = await c.status();
  expect(s.deadLettered).toBe(0);
  c.proc.kill("SIGTERM");
  expect(await c.exited).toBe(0);
  expect(await stackCommand(["up", "--cluster", "cassandra-3"])).toBe(0);
  await expectAllOnce(p.keyspace, events);
  expect(await readTopic(p.dlq, 1, 3000).catch(() => [])).toHaveLength(0);
  report("two Cassandra nodes down", { events: N, downSeconds: Math.round((Date.now() - downAt) / 1000), writtenWhileDown: during.written, notReady, retries: s.retries, deadLettered: 0, lost: 0 });
}, 300_000);

test("replica-aware batching: at replication 2 on three nodes, every batch's coordinator is a replica of every row in it", async () => {
  const N = 20_000;
  const p = await clusterPipeline("cl-replica", 6, 2);
  const events = makeEvents(N, { seed: 95, start: Date.now() - 300_000, stepMs: 10, jitterMs: 5000 });
  await produceAll(p.topic, events);
  const c = consumer(p.env);
  await untilProcessed(c, N, 120_000);
  const text = await (await fetch(`${c.statusUrl}/metrics`)).text();
  const count = (label: string) => Number(new RegExp(`^events_sink_batches_total\\{coordinator="${label}"\\} (\\d+)`, "m").exec(text)?.[1] ?? 0);
  const batches = { replica: count("replica"), notReplica: count("not_replica"), unknown: count("unknown") };
  c.proc.kill("SIGTERM");
  expect(await c.exited).toBe(0);
  // With two replicas out of three nodes, a coordinator chosen for the first row alone would miss some rows.
  expect(batches.replica).toBeGreaterThan(0);
  expect(batches).toMatchObject({ notReplica: 0, unknown: 0 });
  report("replica-aware batching", { events: N, replication: 2, batches: batches.replica, rowsPerBatch: Number((N / batches.replica).toFixed(1)), coordinatorNotReplica: 0 });
}, 180_000);

/** Rows counted at ONE (a progress check; the final check reads at ALL). */
async function countAtOne(keyspace: string): Promise<number> {
  const rs = await cql.execute(`SELECT count(*) FROM ${keyspace}.user_events`, [], { consistency: cassandra.types.consistencies.one, readTimeout: 60_000 });
  return Number(rs.first()?.count ?? 0);
}
