/**
 * Security, actually run (`bun run stack up --auth`): Kafka's SASL/SCRAM listener (127.0.0.1:9094) and a
 * Cassandra with PasswordAuthenticator and CassandraAuthorizer (127.0.0.4:9042), through the compiled binary.
 * A role that loses MODIFY mid-stream stops the consumer with one line and nothing dead-lettered; after GRANT
 * and a restart every event is stored exactly once. No password ever appears in what a process prints.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { Kafka, logLevel } from "kafkajs";
import { AUTH_CASSANDRA, stackSecrets } from "../../scripts/stack.ts";
import { asAvro, consumeAll, makeEvents, produce, readTopic, type Running, start, summary, until } from "../helpers/events.ts";
import { freshKeyspace, freshTopic, HOOK_TIMEOUT, kafka, requireStack, runEvents } from "../helpers/stack.ts";

const secrets = stackSecrets();
const SASL_BROKER = "127.0.0.1:9094";
const running: Running[] = [];
let admin: cassandra.Client;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await requireStack();
  admin = new cassandra.Client({
    contactPoints: [AUTH_CASSANDRA], localDataCenter: "datacenter1",
    authProvider: new cassandra.auth.PlainTextAuthProvider(secrets.cassandraAdmin.username, secrets.cassandraAdmin.password),
  });
  await admin.connect().catch((e) => {
    throw new Error(`the authenticated Cassandra does not answer on ${AUTH_CASSANDRA} (${(e as Error).message}): start the stack with \`bun run stack up --auth\``);
  });
}, HOOK_TIMEOUT);
afterEach(() => {
  for (const r of running.splice(0)) r.proc.kill("SIGKILL");
});
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
  await admin?.shutdown();
}, HOOK_TIMEOUT);

/** Everything a process printed, for the check that no secret is in it. */
const printed = (r: Running | { stdout: string; stderr: string }) => ("lines" in r ? r.lines.map((l) => JSON.stringify(l)).join("\n") : r.stdout + r.stderr);
const PASSWORDS = [secrets.kafka.password, secrets.cassandraAdmin.password, secrets.cassandraConsumer.password];
const noSecret = (out: string) => expect(PASSWORDS.filter((p) => out.includes(p))).toEqual([]);

const kafkaAuth = (mechanism: string, password = secrets.kafka.password) => ({
  KAFKA_BROKERS: SASL_BROKER, KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: secrets.kafka.username, KAFKA_SASL_PASSWORD: password,
});
const cassandraAuth = (who: "cassandraAdmin" | "cassandraConsumer") => ({
  CASSANDRA_CONTACT_POINTS: AUTH_CASSANDRA, CASSANDRA_USERNAME: secrets[who].username, CASSANDRA_PASSWORD: secrets[who].password,
});

async function securePipeline(prefix: string) {
  const topic = await freshTopic(prefix, 3);
  const dlq = await freshTopic(`${prefix}-dlq`, 1);
  const keyspace = freshKeyspace(prefix.replaceAll("-", "_"));
  const m = runEvents("binary", ["migrate", "--keyspace", keyspace], cassandraAuth("cassandraAdmin"));
  expect(m.status).toBe(0);
  noSecret(printed(m));
  await admin.execute(`GRANT SELECT ON KEYSPACE ${keyspace} TO ${secrets.cassandraConsumer.username}`);
  await admin.execute(`GRANT MODIFY ON KEYSPACE ${keyspace} TO ${secrets.cassandraConsumer.username}`);
  cleanups.push(() => admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`));
  cleanups.push(async () => {
    const a = kafka().admin();
    await a.connect();
    await a.deleteTopics({ topics: [topic, dlq] }).finally(() => a.disconnect());
  });
  const env = { KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: dlq, KAFKA_GROUP_ID: `${topic}-g`, CASSANDRA_KEYSPACE: keyspace, LOG_LEVEL: "info" };
  return { topic, dlq, keyspace, env };
}

const rowsIn = async (keyspace: string) => {
  const ids = new Set<string>();
  let total = 0;
  for await (const row of admin.stream(`SELECT event_id FROM ${keyspace}.user_events`, [], { prepare: true, fetchSize: 5000 }) as unknown as AsyncIterable<cassandra.types.Row>) {
    ids.add(String(row.event_id));
    total++;
  }
  return { distinct: ids.size, total };
};

test("Kafka SASL/SCRAM: simulate, consume and collect log in with either mechanism; wrong credentials stop with one line; no password printed", async () => {
  const p = await securePipeline("it-sec-scram");
  const sim = runEvents("binary", ["simulate", "--count", "3000", "--rate", "0", "--seed", "9"], { ...kafkaAuth("scram-sha-256"), KAFKA_TOPIC: p.topic, STATUS_ADDR: "off" });
  expect(sim.status).toBe(0);
  noSecret(printed(sim));
  const r = await consumeAll("binary", { ...p.env, ...kafkaAuth("scram-sha-512"), ...cassandraAuth("cassandraConsumer") });
  expect(summary(r)).toMatchObject({ consumed: 3000, written: 3000, deadLettered: 0 });
  noSecret(printed(r));
  expect(await rowsIn(p.keyspace)).toEqual({ distinct: 3000, total: 3000 });

  const wrong = runEvents("binary", ["consume"], { ...p.env, ...kafkaAuth("scram-sha-256", "not-the-password-42"), ...cassandraAuth("cassandraConsumer") }, 60_000);
  expect(wrong.status).toBe(1);
  const lines = wrong.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/rejected the SASL authentication.*check KAFKA_SASL_/);
  expect(printed(wrong)).not.toContain("not-the-password-42");
  noSecret(printed(wrong));

  // The collector: the same login, and the same one line for wrong credentials, before it listens.
  const port = String(18_600 + Math.floor(Math.random() * 300));
  const collector = start("binary", ["collect"], { ...kafkaAuth("scram-sha-512"), KAFKA_TOPIC: p.topic, COLLECT_ADDR: `127.0.0.1:${port}`, COLLECT_WRITE_KEY: "collect-secret-7" });
  running.push(collector);
  await until("the collector behind SASL to be ready", async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30_000);
  const sent = await fetch(`http://127.0.0.1:${port}/v1/events`, { method: "POST", headers: { "X-Write-Key": "collect-secret-7" },
    body: JSON.stringify({ user_id: crypto.randomUUID(), event_type: "LOGIN" }) });
  expect(sent.status).toBe(202);
  collector.proc.kill("SIGTERM");
  expect(await collector.exited).toBe(0);
  noSecret(printed(collector));
  expect(printed(collector)).not.toContain("collect-secret-7");
  const wrongCollect = runEvents("binary", ["collect"], { ...kafkaAuth("scram-sha-256", "not-the-password-42"), KAFKA_TOPIC: p.topic, COLLECT_ADDR: `127.0.0.1:${port}` }, 60_000);
  expect(wrongCollect.status).toBe(1);
  expect(wrongCollect.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^events collect: .*rejected the SASL authentication.*check KAFKA_SASL_/)]);
  expect(printed(wrongCollect)).not.toContain("not-the-password-42");
}, 180_000);

test("Cassandra auth: MODIFY revoked mid-stream stops the consumer with one line, 0 dead-lettered; after GRANT and a restart every event is stored once", async () => {
  const p = await securePipeline("it-sec-modify");
  const N = 30_000, M = 2_000;
  const events = makeEvents(N, { seed: 71, start: Date.now() - 300_000, stepMs: 10, jitterMs: 5000 });
  await produce(p.topic, asAvro(events));
  const env = { ...p.env, ...kafkaAuth("scram-sha-512"), ...cassandraAuth("cassandraConsumer") };
  const c = start("binary", ["consume"], env);
  running.push(c);
  await until("5,000 events written", async () => ((await c.status().catch(() => ({ written: 0 }))).written as number) >= 5000, 90_000, 25);
  await admin.execute(`REVOKE MODIFY ON KEYSPACE ${p.keyspace} FROM ${secrets.cassandraConsumer.username}`);
  const revokedAt = Date.now();
  // More records after the revoke (Cassandra applies it within its permissions cache's 2 s): a consumer that had
  // drained the first load meanwhile still meets the missing permission, as a live stream would.
  const more = makeEvents(M, { seed: 72, start: Date.now() - 60_000, stepMs: 30, jitterMs: 0 });
  await Bun.sleep(2500);
  await produce(p.topic, asAvro(more));
  events.push(...more);
  const timer = setTimeout(() => c.proc.kill("SIGKILL"), 60_000);
  const code = await c.exited;
  clearTimeout(timer);
  const stoppedAfterMs = Date.now() - revokedAt;
  expect(code).toBe(1);
  const stderr = String(c.lines.find((l) => "stderr" in l)?.stderr ?? "").trim().split("\n");
  expect(stderr).toHaveLength(1);
  expect(stderr[0]).toMatch(/^events consume: cassandra: .*(MODIFY|not authorized|Unauthorized).*GRANT MODIFY ON TABLE/i);
  noSecret(printed(c));
  expect(await readTopic(p.dlq, 1, 4000)).toHaveLength(0);
  const before = await rowsIn(p.keyspace);
  expect(before.total).toBeLessThan(N + M);

  await admin.execute(`GRANT MODIFY ON KEYSPACE ${p.keyspace} TO ${secrets.cassandraConsumer.username}`);
  const again = await consumeAll("binary", env);
  expect(summary(again).deadLettered).toBe(0);
  noSecret(printed(again));
  expect(await rowsIn(p.keyspace)).toEqual({ distinct: N + M, total: N + M });
  expect(await readTopic(p.dlq, 1, 4000)).toHaveLength(0);
  console.log(`security-revoke: stopped ${(stoppedAfterMs / 1000).toFixed(1)} s after REVOKE with ${before.total} of ${N + M} stored; 0 dead-lettered; after GRANT and a restart ${N + M} stored once`);
}, 240_000);
