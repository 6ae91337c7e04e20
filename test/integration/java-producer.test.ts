/**
 * What a production topic holds: events from an ordinary Apache kafka-clients Java producer (JSON values, as
 * the seed's producer sends them), compressed with each codec Kafka offers. The producer is compiled here from
 * test/integration/java/JsonProducer.java against the local stack's own Kafka jars; `dist/events consume`
 * must store every event of each.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stackPaths } from "../../scripts/stack.ts";
import { countRows, isolatedPipeline, readRows } from "../helpers/events.ts";
import { HOOK_TIMEOUT, requireStack, ROOT, runEvents } from "../helpers/stack.ts";

const N = 20_000;
const drops: (() => Promise<void>)[] = [];
let classpath = "";

beforeAll(async () => {
  await requireStack();
  const jars = stackPaths.jars("kafka");
  const kafkaJars = readdirSync(jars).filter((f) => f.endsWith(".jar"));
  if (!kafkaJars.some((f) => f.startsWith("kafka-clients-"))) throw new Error(`no kafka-clients jar in ${jars}: run bun run stack up`);
  const out = mkdtempSync(join(tmpdir(), "events-java-"));
  classpath = [out, ...kafkaJars.map((f) => join(jars, f))].join(":");
  const javac = spawnSync("javac", ["-d", out, "-cp", classpath, join(ROOT, "test/integration/java/JsonProducer.java")], { encoding: "utf8" });
  if (javac.status !== 0) throw new Error(`javac failed (a JDK 17+ is a prerequisite): ${javac.stderr || javac.error}`);
}, HOOK_TIMEOUT);
afterAll(async () => {
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

for (const codec of ["gzip", "snappy", "lz4", "zstd"]) {
  test(`a Java producer's ${codec} batches: all ${N} events stored by dist/events consume`, async () => {
    const p = await isolatedPipeline(`it-java-${codec}`);
    drops.push(p.drop);
    const java = spawnSync("java", ["-cp", classpath, "JsonProducer", "127.0.0.1:9092", p.topic, String(N), codec], { encoding: "utf8", timeout: 90_000 });
    expect([java.status, java.stdout.trim()], java.stderr).toEqual([0, `sent ${N}`]);
    const con = runEvents("binary", ["consume", "--exit-when-idle", "2s", "--status-addr", "off"], p.env);
    expect([con.status, con.stderr]).toEqual([0, ""]);
    expect(con.stdout).toContain(`"written":${N}`);
    expect(con.stdout).toContain('"deadLettered":0');
    expect(await countRows(p.keyspace)).toBe(N);
    const rows = await readRows(p.keyspace);
    const any = rows.get("00000000-0000-5678-0000-000000000007")!;
    expect([any.user_id, any.event_type, any.metadata]).toEqual(["00000000-0000-1234-0000-000000000007", "VIEW_ITEM", { page: "/item/7", session_id: "s7" }]);
  }, 150_000);
}
