/**
 * Schema evolution with the real schema registry (Apicurio, from the local stack), through the compiled binary:
 * records written with registered writer schemas that add an optional field or reorder the fields are stored
 * with every field right; `simulate --format confluent` registers ours; an unknown id is dead-lettered
 * `unknown_schema`; the registry frozen (SIGSTOP) for 20 s makes the consumer wait, nothing dead-lettered.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { consumeAll, header, isolatedPipeline, makeEvents, produce, readAllRows, readTopic, type Running, start, summary, type TestEvent, until } from "../helpers/events.ts";
import { HOOK_TIMEOUT, REGISTRY_URL, requireStack, ROOT, runEvents } from "../helpers/stack.ts";
import { framed, WRITERS } from "../helpers/schemas.ts";

beforeAll(requireStack, HOOK_TIMEOUT);
const drops: (() => Promise<void>)[] = [];
const running: Running[] = [];
afterEach(() => {
  for (const r of running.splice(0)) r.proc.kill("SIGKILL");
});
afterAll(async () => {
  for (const d of drops) await d();
}, HOOK_TIMEOUT);

async function register(subject: string, schema: object): Promise<number> {
  const r = await fetch(`${REGISTRY_URL}/subjects/${subject}/versions`, {
    method: "POST", headers: { "Content-Type": "application/vnd.schemaregistry.v1+json" }, body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  if (!r.ok) throw new Error(`registering under ${subject}: HTTP ${r.status} ${await r.text()}`);
  return ((await r.json()) as { id: number }).id;
}

function expectStored(rows: Map<string, { user_id: string; event_type: string; event_time: number; metadata: Record<string, string> }>, events: TestEvent[]) {
  const wrong = events.filter((e) => {
    const r = rows.get(e.event_id);
    return !r || r.user_id !== e.user_id || r.event_type !== e.event_type || r.event_time !== e.event_time || JSON.stringify(r.metadata) !== JSON.stringify(e.metadata);
  });
  expect(wrong).toEqual([]);
}

test("schema evolution: an added optional field and reordered fields are stored right; an unknown id is dead-lettered unknown_schema", async () => {
  const p = await isolatedPipeline("it-registry");
  drops.push(p.drop);
  const subject = `${p.topic}-value`;
  // Apicurio's ccompat API applies no compatibility rule unless one is set: each evolution gets its own id.
  const added = await register(subject, WRITERS.addedOptional);
  const reordered = await register(subject, WRITERS.reordered);
  expect(new Set([added, reordered]).size).toBe(2);
  const now = Date.now();
  const a = makeEvents(1000, { seed: 61, start: now - 120_000, stepMs: 50, jitterMs: 0 });
  const b = makeEvents(1000, { seed: 62, start: now - 120_000, stepMs: 50, jitterMs: 0 });
  const unknown = makeEvents(50, { seed: 63, start: now - 60_000, stepMs: 50, jitterMs: 0 });
  await produce(p.topic, [
    ...a.map((e, i) => ({ key: e.user_id, value: framed(WRITERS.addedOptional, added, { ...e, session_id: i % 2 ? `s-${i}` : null }) })),
    ...b.map((e) => ({ key: e.user_id, value: framed(WRITERS.reordered, reordered, e) })),
    ...unknown.map((e) => ({ key: e.user_id, value: framed(WRITERS.reordered, 987_654, e) })),
  ]);
  // The simulator registers the project's schema and frames with the id it got.
  const sim = runEvents("binary", ["simulate", "--format", "confluent", "--count", "500", "--rate", "0", "--seed", "5", "--start", new Date(now - 60_000).toISOString()],
    { KAFKA_TOPIC: p.topic, SCHEMA_REGISTRY_URL: REGISTRY_URL, STATUS_ADDR: "off" });
  expect(sim.status).toBe(0);
  const registered = sim.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === "schema registered");
  expect(registered).toMatchObject({ subject });
  expect([added, reordered]).not.toContain(registered.id);

  const r = await consumeAll("binary", { ...p.env, SCHEMA_REGISTRY_URL: REGISTRY_URL });
  expect(summary(r)).toMatchObject({ consumed: 2550, written: 2500, deadLettered: 50 });
  const loaded = r.lines.filter((l) => l.msg === "writer schema loaded").map((l) => [l.id, l.writer]);
  expect(loaded.sort()).toEqual([[added, "resolved"], [registered.id, "same"], [reordered, "resolved"], [987_654, "unknown"]].sort());
  const { rows, total } = await readAllRows(p.keyspace);
  expect(total).toBe(2500);
  expectStored(rows, [...a, ...b]);
  const dead = await readTopic(p.dlq, 50, 20_000);
  expect(dead).toHaveLength(50);
  expect(dead.every((m) => header(m, "dlq.reason") === "unknown_schema" && header(m, "dlq.error") === "schema id 987654 is not in the registry")).toBe(true);
}, 180_000);

test("the registry frozen for 20 s: the consumer waits (0 dead-lettered, /readyz names the stall), then stores everything", async () => {
  const p = await isolatedPipeline("it-registry-out");
  drops.push(p.drop);
  const id = await register(`${p.topic}-value`, WRITERS.addedOptional);
  const events = makeEvents(3000, { seed: 64, start: Date.now() - 120_000, stepMs: 30, jitterMs: 0 });
  const c = start("binary", ["consume"], { ...p.env, SCHEMA_REGISTRY_URL: REGISTRY_URL, STALL_TIMEOUT: "10s" });
  running.push(c);
  await until("the consumer to be ready", async () => (await fetch(`${c.statusUrl}/readyz`)).status === 200, 60_000, 250);
  const pid = Number(readFileSync(join(ROOT, ".stack/run/registry.pid"), "utf8"));
  process.kill(pid, "SIGSTOP");
  const stoppedAt = Date.now();
  let during: Record<string, unknown>;
  try {
    // A schema id this consumer has not seen: it must ask the frozen registry.
    await produce(p.topic, events.map((e) => ({ key: e.user_id, value: framed(WRITERS.addedOptional, id, { ...e, session_id: null }) })));
    await until("/readyz to name the stall", async () => {
      const body = (await (await fetch(`${c.statusUrl}/readyz`)).json()) as { notReady: string[] };
      return body.notReady.some((x) => /stalled/.test(x));
    }, 25_000, 500);
    await Bun.sleep(Math.max(0, 20_000 - (Date.now() - stoppedAt)));
    during = await c.status();
    expect(during).toMatchObject({ written: 0, deadLettered: 0 });
  } finally {
    process.kill(pid, "SIGCONT");
  }
  const frozenMs = Date.now() - stoppedAt;
  await until("every event written", async () => (await c.status()).written === events.length, 60_000, 250);
  const s = await c.status();
  expect(s.deadLettered).toBe(0);
  expect(c.lines.some((l) => l.msg === "schema registry unreachable; retrying (the partition waits)")).toBe(true);
  c.proc.kill("SIGTERM");
  expect(await c.exited).toBe(0);
  const { rows, total } = await readAllRows(p.keyspace);
  expect(total).toBe(events.length);
  expectStored(rows, events);
  console.log(`registry-outage: frozen ${Math.round(frozenMs / 1000)} s; written during it ${during.written}, dead-lettered ${s.deadLettered}; all ${events.length} stored after`);
}, 180_000);
