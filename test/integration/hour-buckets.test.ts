/**
 * BUCKET=hour end to end, through the compiled binary: migrate creates user_events_by_hour, the consumer writes
 * every event there under the start of its UTC hour, and the read API reads a user's day back from the 24 hour
 * partitions, newest first, across pages — equal to direct CQL reads.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { encode } from "../../src/codec/encode.ts";
import { consumeAll, isolatedPipeline, makeEvents, produce, type Running, start, until } from "../helpers/events.ts";
import { cassandraClient, HOOK_TIMEOUT, requireStack } from "../helpers/stack.ts";

beforeAll(requireStack, HOOK_TIMEOUT);
const cleanups: (() => Promise<void>)[] = [];
const running: Running[] = [];
afterAll(async () => {
  for (const r of running) r.proc.kill("SIGKILL");
  for (const c of cleanups) await c();
}, HOOK_TIMEOUT);

test("BUCKET=hour: the same stream stored hour-bucketed, each event under its UTC hour, read back through the API", async () => {
  const p = await isolatedPipeline("it-hour", { BUCKET: "hour" });
  cleanups.push(p.drop);
  const { keyspace, topic, env } = p;

  // 20,000 events of 50 users over the last 5 hours: each user has events in several hours of the day.
  const N = 20_000;
  const events = makeEvents(N, { seed: 61, start: Date.now() - 5 * 3_600_000, stepMs: (5 * 3_600_000 - 60_000) / N, jitterMs: 0, users: 50 });
  await produce(topic, events.map((e) => ({ key: e.user_id, value: encode(e, "avro") })));
  await consumeAll("binary", env);

  const db = cassandraClient(keyspace);
  const rows = new Map<string, { user: string; hour: number; time: number; type: string }>();
  for await (const r of db.stream("SELECT user_id, bucket_hour, event_time, event_type, event_id FROM user_events_by_hour", [], { prepare: true, fetchSize: 5000 }) as unknown as AsyncIterable<Record<string, { toString(): string; getTime(): number }>>) {
    rows.set(r.event_id!.toString(), { user: r.user_id!.toString(), hour: r.bucket_hour!.getTime(), time: r.event_time!.getTime(), type: r.event_type!.toString() });
  }
  const dayRows = (await db.execute("SELECT count(*) AS n FROM user_events")).first().n as { toNumber(): number };
  await db.shutdown();
  expect(rows.size).toBe(N);
  expect(dayRows.toNumber()).toBe(0); // nothing in the day table
  for (const e of events) {
    const r = rows.get(e.event_id)!;
    expect([e.event_id, r.hour]).toEqual([e.event_id, e.event_time - (e.event_time % 3_600_000)]);
  }
  const hours = new Set([...rows.values()].map((r) => r.hour));
  expect(hours.size).toBeGreaterThanOrEqual(5);

  // The API: a user's whole day, 25 a page, across hour partitions, equals the rows, newest first.
  const reader = start("binary", ["consume"], env);
  running.push(reader);
  await until("the reader's status server", async () => (await fetch(`${reader.statusUrl}/healthz`).catch(() => null))?.ok, 30_000, 100);
  const users = [...new Set(events.map((e) => e.user_id))].slice(0, 5);
  let pages = 0;
  for (const user of users) {
    for (const date of [...new Set(events.filter((e) => e.user_id === user).map((e) => new Date(e.event_time).toISOString().slice(0, 10)))]) {
      const direct = [...rows.entries()].filter(([, r]) => r.user === user && new Date(r.time).toISOString().slice(0, 10) === date)
        .sort(([ia, a], [ib, b]) => b.time - a.time || a.type.localeCompare(b.type) || ia.localeCompare(ib)).map(([id]) => id);
      const got: string[] = [];
      for (let page: string | null = ""; page !== null; pages++) {
        const res = await fetch(`${reader.statusUrl}/v1/users/${user}/events?date=${date}&limit=25${page ? `&page=${page}` : ""}`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { events: { eventId: string }[]; next: string | null };
        expect(body.events.length).toBeLessThanOrEqual(25);
        got.push(...body.events.map((e) => e.eventId));
        page = body.next;
      }
      expect([user, date, got.length]).toEqual([user, date, direct.length]);
      expect(got).toEqual(direct);
    }
  }
  reader.proc.kill("SIGTERM");
  expect(await reader.exited).toBe(0);
  console.log(`hour-buckets: ${N} events in ${hours.size} hour buckets; ${users.length} users' days read back in ${pages} pages`);
}, 240_000);
