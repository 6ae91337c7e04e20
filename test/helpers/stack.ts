/**
 * Integration tests run against the real local stack (bun run stack up). When it does not answer,
 * they fail with that reason: never skipped silently.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import cassandra from "cassandra-driver";
import { Kafka, logLevel } from "kafkajs";

export const ROOT = resolve(import.meta.dir, "../..");

/**
 * For beforeAll/afterAll hooks that talk to the stack, so that they do not depend on the runner's default timeout
 * (5 s without `--timeout`): on a slow machine, dropping a test's keyspaces and topics took longer. A hook that times
 * out also has its file's child processes killed, a Kafka the file restarted among them, and every later file failed.
 */
export const HOOK_TIMEOUT = 120_000;

/**
 * `bun scripts/stack.ts <args>` in a process of its own, for tests that start a service again. Started from the
 * test's own process, the service would be the test file's child, and Bun kills a file's children when one of its
 * tests or hooks times out: a Kafka restarted that way went down with it, and every later file failed for it.
 * (Stopping stays in the test's process: a test that acts the moment the broker is gone should not wait for a
 * second Bun to exit.)
 */
export async function stackCommand(args: string[]): Promise<number> {
  return await Bun.spawn([process.execPath, resolve(ROOT, "scripts/stack.ts"), ...args], { cwd: ROOT, stdout: "inherit", stderr: "inherit" }).exited;
}

export const BROKERS = ["127.0.0.1:9092"];
export { REGISTRY_URL } from "../../scripts/stack.ts";
import { REGISTRY_URL } from "../../scripts/stack.ts";
export const CONTACT_POINTS = ["127.0.0.1:9042"];

export const kafka = () => new Kafka({ clientId: "events-test", brokers: BROKERS, logLevel: logLevel.ERROR });

export async function requireStack(): Promise<void> {
  const admin = new Kafka({ brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 1 } }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (e) {
    throw new Error(`Kafka does not answer on ${BROKERS[0]} (${(e as Error).message}): start the local stack with \`bun run stack up\``);
  } finally {
    await admin.disconnect().catch(() => {});
  }
  try {
    const r = await fetch(`${REGISTRY_URL}/subjects`, { signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
  } catch (e) {
    throw new Error(`the schema registry does not answer on ${REGISTRY_URL} (${(e as Error).message}): start the local stack with \`bun run stack up\``);
  }
  const client = new cassandra.Client({ contactPoints: CONTACT_POINTS, localDataCenter: "datacenter1" });
  try {
    await client.execute("SELECT release_version FROM system.local");
  } catch (e) {
    throw new Error(`Cassandra does not answer on ${CONTACT_POINTS[0]} (${(e as Error).message}): start the local stack with \`bun run stack up\``);
  } finally {
    await client.shutdown().catch(() => {});
  }
}

/** A fresh topic per test file, so tests never see each other's records. */
export async function freshTopic(prefix: string, partitions = 3): Promise<string> {
  const topic = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const admin = kafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

/** A fresh keyspace name per test file (created by `events migrate`). */
export const freshKeyspace = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;

export function cassandraClient(keyspace?: string): cassandra.Client {
  return new cassandra.Client({ contactPoints: CONTACT_POINTS, localDataCenter: "datacenter1", keyspace });
}

/** The compiled binary, built once per test run from the current sources. */
let built = false;
export function binary(): string {
  const out = resolve(ROOT, "dist/events");
  if (!built) {
    const r = spawnSync("bun", ["run", "build"], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`bun run build failed:\n${r.stdout}${r.stderr}`);
    built = true;
  }
  return out;
}

/** Run `events` from source (bun) or from the compiled binary; env is added to a minimal one. */
export function runEvents(how: "source" | "binary", args: string[], env: Record<string, string> = {}, timeoutMs = 120_000) {
  const cmd = how === "binary" ? [binary(), ...args] : ["bun", resolve(ROOT, "src/cli/main.ts"), ...args];
  return spawnSync(cmd[0]!, cmd.slice(1), {
    encoding: "utf8",
    timeout: timeoutMs,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "info", ...env },
  });
}
